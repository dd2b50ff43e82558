// What a serving node knows of the nodes fetching a blob from it: the other peers that asked it
// for the blob lately, which chunks it has already sent, and to whom. A fetcher learns its fellow
// fetchers from the first answer instead of a DHT lookup, and asks for chunks nobody got yet; a
// holder of the whole blob asked for a chunk it sent another fetcher, still fetching, tells the
// asker to take it from that one (passOn) while some chunk has not been sent to anyone, so its
// uplink carries each chunk once before any twice, however many nodes fetch at the same time.
// Pure: time comes in.

/** Peers named in one answer; a swarm larger than this still meets through the peers it names. */
export const MAX_SWARM_PEERS = 16;

export interface SwarmHint {
  /** Other peers that asked for the blob within the swarm's memory, latest first. */
  peers: string[];
  /** Chunks this node began sending to anyone, as a have-bitmap (piece-picker.ts's layout). */
  sent: Uint8Array;
}

interface Swarm {
  /** Peer → when it last asked. */
  askedAt: Map<string, number>;
  sent: Uint8Array;
  /** Chunks not sent to anyone yet. */
  unsent: number;
  /** Per chunk, the peer it was last sent to. */
  sentTo: (string | undefined)[];
  lastAt: number;
}

export interface SwarmsOptions {
  /** A peer silent this long leaves a swarm; a swarm silent this long is forgotten with what it was sent. */
  forgetAfterMs: number;
  /** Blobs remembered at once; past it the one silent longest is forgotten. */
  maxBlobs: number;
  /** Peers remembered per blob; past it the one silent longest is forgotten. */
  maxPeers: number;
  /** A chunk is passed on only by a fetcher that asked this node within this long: one still fetching. */
  activeMs: number;
}

export class Swarms {
  readonly #swarms = new Map<string, Swarm>();

  constructor(private readonly options: SwarmsOptions) {}

  /** `peer` asked for the blob (its map, or chunk `chunk` of `chunkCount`, which this node now sends). */
  asked(digest: string, chunkCount: number, peer: string, now: number, chunk?: number): void {
    const swarm = this.#swarm(digest, chunkCount, now);
    swarm.askedAt.delete(peer);
    swarm.askedAt.set(peer, now);
    if (swarm.askedAt.size > this.options.maxPeers) swarm.askedAt.delete(swarm.askedAt.keys().next().value!);
    swarm.lastAt = now;
    if (chunk === undefined || chunk < 0 || chunk >= chunkCount) return;
    const bit = 0x80 >> (chunk & 7);
    if (!(swarm.sent[chunk >> 3]! & bit)) swarm.unsent--;
    swarm.sent[chunk >> 3]! |= bit;
    swarm.sentTo[chunk] = peer;
  }

  /**
   * The fetcher `requester` should take chunk `chunk` from instead: another one this node sent it
   * to and still fetching (asked within activeMs), while some chunk of the blob has gone to no one
   * yet (this node's uplink is better spent on it); undefined to send it. Once every chunk went
   * out, the swarm's holders of part of the blob are what is short, and this node serves anything.
   */
  passOn(digest: string, chunk: number, requester: string, now: number): string | undefined {
    const swarm = this.#live(digest, now);
    const to = swarm?.sentTo[chunk];
    if (!swarm || swarm.unsent === 0 || to === undefined || to === requester) return undefined;
    return now - (swarm.askedAt.get(to) ?? -Infinity) < this.options.activeMs ? to : undefined;
  }

  /** What to tell `requester` of the blob's swarm: undefined when nobody else asked lately. */
  hint(digest: string, requester: string, now: number): SwarmHint | undefined {
    const swarm = this.#live(digest, now);
    if (!swarm) return undefined;
    const peers: string[] = [];
    for (const [peer, at] of [...swarm.askedAt].reverse()) {
      if (now - at >= this.options.forgetAfterMs) break;
      if (peer !== requester) peers.push(peer);
      if (peers.length >= MAX_SWARM_PEERS) break;
    }
    return { peers, sent: swarm.sent };
  }

  #live(digest: string, now: number): Swarm | undefined {
    const swarm = this.#swarms.get(digest);
    if (swarm && now - swarm.lastAt >= this.options.forgetAfterMs) {
      this.#swarms.delete(digest);
      return undefined;
    }
    return swarm;
  }

  #swarm(digest: string, chunkCount: number, now: number): Swarm {
    let swarm = this.#live(digest, now);
    if (!swarm || swarm.sent.byteLength !== Math.ceil(chunkCount / 8)) {
      swarm = { askedAt: new Map(), sent: new Uint8Array(Math.ceil(chunkCount / 8)), unsent: chunkCount, sentTo: [], lastAt: now };
      this.#swarms.delete(digest);
      this.#swarms.set(digest, swarm);
      if (this.#swarms.size > this.options.maxBlobs) this.#evictOldest();
    }
    return swarm;
  }

  #evictOldest(): void {
    let oldest: string | undefined;
    let oldestAt = Infinity;
    for (const [digest, swarm] of this.#swarms) {
      if (swarm.lastAt < oldestAt) {
        oldest = digest;
        oldestAt = swarm.lastAt;
      }
    }
    if (oldest !== undefined) this.#swarms.delete(oldest);
  }
}
