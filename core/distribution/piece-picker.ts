// Which chunk of a blob to ask which peer for next: rarest first, a cap on each peer's requests,
// endgame duplicates, bans for peers that send bad chunks. Pure: time and randomness come in.

import { ProductError } from '../errors.js';

export interface PiecePickerOptions {
  chunkCount: number;
  /** Requests one peer may have outstanding at once. */
  maxInFlightPerPeer: number;
  /** Bad chunks (failed verification) after which a peer is banned for this blob. */
  maxBadChunks: number;
  /** A request unanswered this long times out its peer: every request of that peer is freed. */
  requestTimeoutMs: number;
  /** Uniform in [0, 1), for tie-breaks; a seeded one makes a run repeatable. */
  random: () => number;
  /** Chunks already held, e.g. verified before a restart. */
  held?: Iterable<number>;
  /** How long a peer that pointed elsewhere for a chunk is not asked for it again, at least; default 1000 ms. */
  elsewhereMs?: number;
}

export interface ChunkRequest {
  readonly peer: string;
  readonly chunk: number;
  /** The `now` of the next() call that made it. */
  readonly sentAt: number;
}

/** What the picker knows of a peer, for logs and status. */
export interface PeerStanding {
  readonly inFlight: number;
  readonly badChunks: number;
  /** Timeouts and failed requests. */
  readonly lapses: number;
  readonly banned: boolean;
}

interface Peer {
  id: string;
  have: Uint8Array;
  /** Chunks the peer says it has sent to anyone (a have-bitmap), or none said. */
  sent: Uint8Array | undefined;
  /** How long its last good chunk took, from request to arrival; 0 before one arrived. */
  chunkMs: number;
  /** Chunk → until when it is not to be asked for: the peer said another fetcher has it. */
  elsewhereUntil: Map<number, number>;
  /** Chunk → sentAt. */
  requests: Map<number, number>;
  badChunks: number;
  lapses: number;
  banned: boolean;
}

/** A have-bitmap as BitTorrent lays it out: chunk i is bit (7 − i % 8) of byte ⌊i / 8⌋. */
export function haveBitmap(chunkCount: number, chunks: Iterable<number>): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(chunkCount / 8));
  for (const chunk of chunks) {
    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= chunkCount) throw new RangeError(`chunk ${chunk} is outside the blob's ${chunkCount} chunks`);
    bitmap[chunk >> 3]! |= 0x80 >> (chunk & 7);
  }
  return bitmap;
}

export class PiecePicker {
  readonly #options: PiecePickerOptions;
  readonly #held: Uint8Array;
  /** Live (announced, not banned) peers holding each chunk. */
  readonly #availability: Int32Array;
  /** Requests out for each chunk, across peers. */
  readonly #requested: Int32Array;
  readonly #peers = new Map<string, Peer>();
  #missing: number;

  constructor(options: PiecePickerOptions) {
    const { chunkCount, maxInFlightPerPeer, maxBadChunks, requestTimeoutMs } = options;
    if (!Number.isSafeInteger(chunkCount) || chunkCount < 0) throw new RangeError(`chunkCount must be a whole number ≥ 0, got ${chunkCount}`);
    if (!Number.isSafeInteger(maxInFlightPerPeer) || maxInFlightPerPeer < 1) throw new RangeError(`maxInFlightPerPeer must be ≥ 1, got ${maxInFlightPerPeer}`);
    if (!Number.isSafeInteger(maxBadChunks) || maxBadChunks < 1) throw new RangeError(`maxBadChunks must be ≥ 1, got ${maxBadChunks}`);
    if (!(requestTimeoutMs > 0)) throw new RangeError(`requestTimeoutMs must be > 0, got ${requestTimeoutMs}`);
    this.#options = options;
    this.#held = new Uint8Array(chunkCount);
    this.#availability = new Int32Array(chunkCount);
    this.#requested = new Int32Array(chunkCount);
    this.#missing = chunkCount;
    for (const chunk of options.held ?? []) {
      this.#checkChunk(chunk);
      if (!this.#held[chunk]) this.#missing--;
      this.#held[chunk] = 1;
    }
  }

  get done(): boolean {
    return this.#missing === 0;
  }

  get missing(): number {
    return this.#missing;
  }

  has(chunk: number): boolean {
    this.#checkChunk(chunk);
    return this.#held[chunk] === 1;
  }

  peer(id: string): PeerStanding | undefined {
    const peer = this.#peers.get(id);
    return peer && { inFlight: peer.requests.size, badChunks: peer.badChunks, lapses: peer.lapses, banned: peer.banned };
  }

  /** A peer's whole have-bitmap (haveBitmap's layout); replaces what it announced before. A banned peer stays banned. */
  announce(id: string, bitmap: Uint8Array): void {
    const count = this.#held.length;
    if (bitmap.byteLength !== Math.ceil(count / 8)) {
      throw new ProductError('OD_ERR_BAD_REQUEST', `peer ${id} announced a have-bitmap of ${bitmap.byteLength} bytes; ${count} chunks take ${Math.ceil(count / 8)}`);
    }
    if (count % 8 !== 0 && (bitmap[bitmap.byteLength - 1]! & (0xff >> (count % 8))) !== 0) {
      throw new ProductError('OD_ERR_BAD_REQUEST', `peer ${id} announced chunks past the blob's ${count} in its have-bitmap`);
    }
    let peer = this.#peers.get(id);
    if (!peer) {
      peer = { id, have: new Uint8Array(count), sent: undefined, chunkMs: 0, elsewhereUntil: new Map(), requests: new Map(), badChunks: 0, lapses: 0, banned: false };
      this.#peers.set(id, peer);
    }
    for (let chunk = 0; chunk < count; chunk++) {
      this.#setHave(peer, chunk, (bitmap[chunk >> 3]! & (0x80 >> (chunk & 7))) !== 0);
    }
  }

  /** A peer announces one more chunk it holds. */
  gained(id: string, chunk: number): void {
    this.#checkChunk(chunk);
    const peer = this.#peers.get(id);
    if (!peer) throw new ProductError('OD_ERR_BAD_REQUEST', `peer ${id} announced chunk ${chunk} before its have-bitmap`);
    this.#setHave(peer, chunk, true);
  }

  /**
   * The chunks a peer says it has sent to anyone (haveBitmap's layout; replaces what it said
   * before): among equally rare chunks it is asked for one it has not sent, since a chunk it sent
   * will be on another fetcher soon. A peer not announced yet is ignored.
   */
  sentBy(id: string, bitmap: Uint8Array): void {
    const peer = this.#peers.get(id);
    if (!peer || bitmap.byteLength !== Math.ceil(this.#held.length / 8)) return;
    peer.sent = bitmap;
  }

  /**
   * The peer answered a request for `chunk` that another fetcher has it from there: the request is
   * freed without a lapse, and the peer is not asked for that chunk again for twice its last chunk
   * time (at least elsewhereMs), not even in the endgame.
   */
  elsewhere(id: string, chunk: number, now: number): void {
    this.#checkChunk(chunk);
    const peer = this.#peers.get(id);
    if (!peer || !peer.requests.has(chunk)) return;
    this.#free(peer, chunk);
    peer.elsewhereUntil.set(chunk, now + Math.max(this.#options.elsewhereMs ?? 1000, 2 * peer.chunkMs));
  }

  /** The peer left: its requests are freed and returned, for the caller to cancel. */
  removePeer(id: string): ChunkRequest[] {
    const peer = this.#peers.get(id);
    if (!peer) return [];
    const freed = this.#freeAll(peer);
    // A ban outlives the connection, so a banned peer cannot come back with a fresh record.
    if (!peer.banned) {
      for (let chunk = 0; chunk < peer.have.length; chunk++) this.#setHave(peer, chunk, false);
      this.#peers.delete(id);
    }
    return freed;
  }

  /**
   * New requests to send, filling every peer up to the cap: each peer in turn (best standing first)
   * takes the rarest missing chunk it holds that no one is fetching. Once every missing chunk a peer
   * can serve is being fetched (endgame), peers with room duplicate requests held by others.
   * At most `limit` of them.
   */
  next(now: number, limit = Infinity): ChunkRequest[] {
    const made: ChunkRequest[] = [];
    const peers = this.#byStanding();
    for (let progress = true; progress; ) {
      progress = false;
      const endgame = this.#endgame();
      for (const peer of peers) {
        if (made.length >= limit) return made;
        if (peer.requests.size >= this.#options.maxInFlightPerPeer) continue;
        const chunk = this.#pick(peer, endgame, now);
        if (chunk < 0) continue;
        peer.requests.set(chunk, now);
        this.#requested[chunk]!++;
        made.push({ peer: peer.id, chunk, sentAt: now });
        progress = true;
      }
    }
    return made;
  }

  /**
   * The outcome of a chunk's bytes from a peer, after the caller verified them. A good chunk is
   * held from now on and the other requests for it are returned, to cancel. A bad one goes back to
   * missing and counts against the peer; at maxBadChunks it is banned and its requests are returned too.
   */
  received(id: string, chunk: number, valid: boolean, now?: number): ChunkRequest[] {
    this.#checkChunk(chunk);
    const peer = this.#peers.get(id);
    const sentAt = peer?.requests.get(chunk);
    if (peer && valid && sentAt !== undefined && now !== undefined) peer.chunkMs = Math.max(0, now - sentAt);
    if (peer) this.#free(peer, chunk);
    if (!valid) {
      if (!peer || peer.banned) return [];
      peer.badChunks++;
      return peer.badChunks >= this.#options.maxBadChunks ? this.#ban(peer) : [];
    }
    if (this.#held[chunk]) return [];
    this.#held[chunk] = 1;
    this.#missing--;
    const cancelled: ChunkRequest[] = [];
    for (const other of this.#peers.values()) {
      const sentAt = other.requests.get(chunk);
      if (sentAt === undefined) continue;
      this.#free(other, chunk);
      cancelled.push({ peer: other.id, chunk, sentAt });
    }
    return cancelled;
  }

  /** A request ended without bytes (stream reset, refusal): the chunk is free again and the peer has a lapse. */
  failed(id: string, chunk: number): void {
    this.#checkChunk(chunk);
    const peer = this.#peers.get(id);
    if (!peer || !peer.requests.has(chunk)) return;
    this.#free(peer, chunk);
    peer.lapses++;
  }

  /** Peers with a request older than requestTimeoutMs time out: all their requests are freed and returned, to cancel. */
  expire(now: number): ChunkRequest[] {
    const freed: ChunkRequest[] = [];
    for (const peer of this.#peers.values()) {
      const late = [...peer.requests.values()].some((sentAt) => now - sentAt >= this.#options.requestTimeoutMs);
      if (!late) continue;
      peer.lapses++;
      freed.push(...this.#freeAll(peer));
    }
    return freed;
  }

  #checkChunk(chunk: number): void {
    if (!Number.isInteger(chunk) || chunk < 0 || chunk >= this.#held.length) {
      throw new RangeError(`chunk ${chunk} is outside the blob's ${this.#held.length} chunks`);
    }
  }

  #setHave(peer: Peer, chunk: number, has: boolean): void {
    const before = peer.have[chunk] === 1;
    if (before === has) return;
    peer.have[chunk] = has ? 1 : 0;
    if (!peer.banned) this.#availability[chunk]! += has ? 1 : -1;
  }

  /** Peers that may be asked, fewest strikes first; ties in random order. */
  #byStanding(): Peer[] {
    const live = [...this.#peers.values()].filter((peer) => !peer.banned);
    const order = new Map(live.map((peer) => [peer, this.#options.random()]));
    const strikes = (peer: Peer) => peer.badChunks * this.#options.maxInFlightPerPeer + peer.lapses;
    return live.sort((a, b) => strikes(a) - strikes(b) || order.get(a)! - order.get(b)!);
  }

  /** Whether every missing chunk some live peer holds is already requested. */
  #endgame(): boolean {
    for (let chunk = 0; chunk < this.#held.length; chunk++) {
      if (!this.#held[chunk] && this.#requested[chunk] === 0 && this.#availability[chunk]! > 0) return false;
    }
    return true;
  }

  /**
   * The rarest missing chunk `peer` holds and is not fetching, one it has not sent to anyone before
   * one it has, ties broken at random (reservoir sampling); out of endgame only chunks no one is
   * fetching; never one it pointed elsewhere for lately. -1 when there is none.
   */
  #pick(peer: Peer, endgame: boolean, now: number): number {
    let best = -1;
    let bestRequested = 0;
    let bestAvailability = 0;
    let bestSent = 0;
    let ties = 0;
    for (let chunk = 0; chunk < this.#held.length; chunk++) {
      if (this.#held[chunk] || !peer.have[chunk] || peer.requests.has(chunk)) continue;
      if ((peer.elsewhereUntil.get(chunk) ?? 0) > now) continue;
      const requested = this.#requested[chunk]!;
      if (requested > 0 && !endgame) continue;
      const availability = this.#availability[chunk]!;
      const sent = peer.sent && peer.sent[chunk >> 3]! & (0x80 >> (chunk & 7)) ? 1 : 0;
      const better =
        best < 0 ||
        requested < bestRequested ||
        (requested === bestRequested && (availability < bestAvailability || (availability === bestAvailability && sent < bestSent)));
      const tie = !better && requested === bestRequested && availability === bestAvailability && sent === bestSent;
      if (better) {
        best = chunk;
        bestRequested = requested;
        bestAvailability = availability;
        bestSent = sent;
        ties = 1;
      } else if (tie && this.#options.random() * ++ties < 1) {
        best = chunk;
      }
    }
    return best;
  }

  #free(peer: Peer, chunk: number): void {
    if (peer.requests.delete(chunk)) this.#requested[chunk]!--;
  }

  #freeAll(peer: Peer): ChunkRequest[] {
    const freed = [...peer.requests].map(([chunk, sentAt]) => ({ peer: peer.id, chunk, sentAt }));
    for (const { chunk } of freed) this.#free(peer, chunk);
    return freed;
  }

  #ban(peer: Peer): ChunkRequest[] {
    const freed = this.#freeAll(peer);
    for (let chunk = 0; chunk < peer.have.length; chunk++) if (peer.have[chunk]) this.#availability[chunk]!--;
    peer.banned = true;
    return freed;
  }
}
