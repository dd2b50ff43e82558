// Fetches one blob from several holders at once: the piece picker chooses which chunk to ask whom,
// each chunk is verified before it is written, a bad one is fetched again elsewhere and its sender
// is banned, and the blob appears only once its whole sha256 matches (partial-blob.ts).

import { ProductError } from '../errors.js';
import type { Logger } from '../log.js';
import { chunkCount, chunkRange, type ChunkMap } from './chunk-map.js';
import { ChunkElsewhere, requestChunk, requestMap, type ChunkPeers, type HolderMap } from './chunk-client.js';
import type { FetchPace } from './fetch-pace.js';
import type { ChunkHasher } from './hasher.js';
import { openPartialBlob, type PartialBlob } from './partial-blob.js';
import { haveBitmap, PiecePicker, type ChunkRequest } from './piece-picker.js';
import type { SwarmHint } from './swarm.js';

export interface BlobProgress {
  digest: string;
  total: number;
  /** Bytes of verified chunks the sidecar lists, those kept from before a restart included. */
  done: number;
  /** Bytes of the chunks verified before this fetch began. */
  kept: number;
  /** Bytes received from peers by this fetch, bad chunks and endgame duplicates included. */
  fetched: number;
  /** Holders still asked. */
  holders: string[];
}

export interface BlobFetchOptions {
  transport: ChunkPeers;
  hasher: Pick<ChunkHasher, 'verifyChunk'>;
  logger: Logger;
  /** Where the finished blob goes: the store's blob path. */
  path: string;
  digest: string;
  size: number;
  /** Peer ids said to hold the blob, whole or in part. */
  holders: readonly string[];
  /** Looks for holders again while the fetch runs: nodes that began fetching the same blob after this one serve its chunks too. */
  findHolders?: (signal: AbortSignal) => Promise<string[]>;
  /** How often findHolders is asked (one lookup at a time). */
  discoverMs?: number;
  /** Serves this blob's verified chunks to others while it is fetched. */
  server?: { offer(partial: PartialBlob): void; withdraw(partial: PartialBlob): void };
  onProgress?: (progress: BlobProgress) => void;
  /** Shared by every fetch of the node: distribution.max_rate, lowered while inference slows. */
  pace?: Pick<FetchPace, 'rate' | 'take' | 'waitMs'>;
  signal?: AbortSignal;
  maxInFlightPerPeer?: number;
  /** Bad chunks after which a holder is no longer asked for this blob. */
  maxBadChunks?: number;
  requestTimeoutMs?: number;
  /** How often holders that hold only part of the blob are asked again what they hold. */
  refreshMs?: number;
  /** With nothing to ask but holders of parts, how long the fetch waits for them to gain a missing chunk. */
  stallMs?: number;
  random?: () => number;
}

/** Failed requests in a row after which a holder is given up for this blob. */
const MAX_CONSECUTIVE_FAILURES = 3;
const MAP_TIMEOUT_MS = 30_000;
/** A swarm peer that did not answer with a map (it had not begun its fetch) is asked again after this. */
const MEET_AGAIN_MS = 1000;

/** Resolves once the blob is at `path`, whole and verified; rejects, keeping the verified chunks for a later fetch, otherwise. */
export async function fetchBlob(options: BlobFetchOptions): Promise<void> {
  const { transport, logger, digest, size, signal } = options;
  const maps = await holderMaps(transport, options.holders, { digest, size }, signal);
  const first = maps.values().next().value;
  if (!first) throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `no holder of ${digest} answered with its chunk map (asked ${options.holders.length})`);
  const map = first.map;
  for (const [peer, held] of maps) {
    if (!sameLayout(held.map, map)) {
      logger.warn({ digest, peer }, 'a holder describes the blob in other chunks; not asking it');
      maps.delete(peer);
    }
  }
  const partial = await openPartialBlob({ path: options.path, map, hasher: options.hasher, signal });
  options.server?.offer(partial);
  let finished = false;
  try {
    await new ChunkRun(options, map, partial, maps).run();
    options.server?.withdraw(partial);
    await partial.finish(signal);
    finished = true;
  } finally {
    options.server?.withdraw(partial);
    if (!finished) await partial.close();
  }
}

async function holderMaps(transport: ChunkPeers, holders: readonly string[], expected: { digest: string; size: number }, signal?: AbortSignal): Promise<Map<string, HolderMap>> {
  const answers = await Promise.allSettled(
    holders.map((peer) => requestMap(transport, peer, expected, anyOf(signal, AbortSignal.timeout(MAP_TIMEOUT_MS))).then((held) => [peer, held] as const)),
  );
  signal?.throwIfAborted();
  return new Map(answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : [])));
}

function sameLayout(a: ChunkMap, b: ChunkMap): boolean {
  return a.chunkSize === b.chunkSize && a.algorithm === b.algorithm && a.checksums.every((checksum, i) => checksum === b.checksums[i]);
}

function anyOf(...signals: (AbortSignal | undefined)[]): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}

/** One fetch's loop: requests out, answers in, until every chunk is verified. */
class ChunkRun {
  readonly #picker: PiecePicker;
  readonly #inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  readonly #failures = new Map<string, number>();
  /** Holders with only part of the blob, asked again now and then. */
  readonly #partialHolders = new Set<string>();
  readonly #holders: Set<string>;
  /** Holders that answered with a chunk map at some point, dropped ones included: never asked again by discovery. */
  readonly #known: Set<string>;
  #discovery: Promise<void> | undefined;
  #refreshing: Promise<void> | undefined;
  /** Swarm peers being asked for their maps, and when each was last asked. */
  readonly #meetings = new Set<Promise<void>>();
  readonly #metAt = new Map<string, number>();
  readonly #swarmPeers: string[] = [];
  readonly #ending = new AbortController();
  #fetched = 0;
  readonly #kept: number;
  readonly #chunkCount: number;
  /** The have-bitmap of a holder of the whole blob. */
  readonly #whole: Uint8Array;
  /** The last time a request was out. */
  #progressAt = Date.now();
  #wake: (() => void) | undefined;
  #failure: unknown;

  constructor(
    private readonly options: BlobFetchOptions,
    private readonly map: ChunkMap,
    private readonly partial: PartialBlob,
    maps: Map<string, HolderMap>,
  ) {
    const count = chunkCount(map.size, map.chunkSize);
    this.#chunkCount = count;
    this.#whole = haveBitmap(count, Array.from({ length: count }, (_, i) => i));
    this.#picker = new PiecePicker({
      chunkCount: count,
      maxInFlightPerPeer: options.maxInFlightPerPeer ?? 2,
      maxBadChunks: options.maxBadChunks ?? 1,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      random: options.random ?? Math.random,
      held: partial.verifiedChunks(),
    });
    for (const [peer, held] of maps) {
      this.#picker.announce(peer, held.have ?? this.#whole);
      if (held.have) this.#partialHolders.add(peer);
      if (held.swarm) {
        this.#picker.sentBy(peer, held.swarm.sent);
        this.#swarmPeers.push(...held.swarm.peers);
      }
    }
    this.#holders = new Set(maps.keys());
    this.#known = new Set(maps.keys());
    this.#kept = this.#heldBytes();
  }

  async run(): Promise<void> {
    const { signal } = this.options;
    const refreshMs = this.options.refreshMs ?? 1000;
    let lastRefresh = Date.now();
    let lastDiscovery = Date.now();
    this.#report();
    this.#meet(this.#swarmPeers.splice(0));
    try {
      while (!this.#picker.done) {
        signal?.throwIfAborted();
        if (this.#failure) throw this.#failure;
        const now = Date.now();
        for (const late of this.#picker.expire(now)) this.#cancel(late);
        // Paced, one chunk is asked for once the last one's bytes are paid for, so a request never
        // waits longer than its own chunk's time and its timeout measures the holder, not the cap.
        const pace = this.options.pace;
        const room = pace && pace.rate > 0 ? (pace.waitMs() > 0 ? 0 : 1) : Infinity;
        for (const request of this.#picker.next(now, room)) this.#send(request);
        if (this.#inFlight.size > 0) this.#progressAt = now;
        const stalled = this.#partialHolders.size === 0 || now - this.#progressAt > (this.options.stallMs ?? 60_000);
        if (this.#inFlight.size === 0 && stalled) {
          if (this.options.findHolders && (await this.#foundMore(this.options.findHolders))) continue;
          throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `${this.#picker.missing} chunks of ${this.map.digest} are held by no holder left (${this.#holders.size} left)`);
        }
        if (this.options.findHolders && !this.#discovery && now - lastDiscovery >= (this.options.discoverMs ?? 1000)) {
          lastDiscovery = now;
          this.#discovery = this.#discover(this.options.findHolders).finally(() => (this.#discovery = undefined));
        }
        // In the background, as discovery: requests keep going out while the holders answer.
        if (this.#partialHolders.size > 0 && !this.#refreshing && now - lastRefresh >= refreshMs) {
          lastRefresh = now;
          this.#refreshing = this.#refresh().finally(() => (this.#refreshing = undefined));
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, Math.min(refreshMs, 250, this.options.pace?.waitMs() || Infinity)).unref();
        });
      }
    } finally {
      this.#ending.abort(new Error('the fetch is over'));
      for (const { controller } of this.#inFlight.values()) controller.abort(new Error('the fetch is over'));
      await Promise.allSettled([...this.#inFlight.values()].map((r) => r.done));
      await Promise.allSettled([this.#discovery, this.#refreshing, ...this.#meetings]);
    }
  }

  /** With no holder left to ask, one more lookup: whether it found a holder not asked before. */
  async #foundMore(findHolders: (signal: AbortSignal) => Promise<string[]>): Promise<boolean> {
    await this.#discovery;
    const before = this.#holders.size;
    await this.#discover(findHolders);
    return this.#holders.size > before;
  }

  /** Asks new holders found meanwhile for their chunk maps; those that answer are asked for chunks from then on. */
  async #discover(findHolders: (signal: AbortSignal) => Promise<string[]>): Promise<void> {
    const signal = anyOf(this.options.signal, this.#ending.signal);
    try {
      const found = (await findHolders(signal)).filter((peer) => !this.#known.has(peer));
      if (found.length === 0) return;
      this.#admit(await holderMaps(this.options.transport, found, this.map, signal));
    } catch (error) {
      if (!signal.aborted) this.options.logger.debug({ digest: this.map.digest, err: error }, 'looking for more holders failed');
    }
  }

  /** Holders that answered with their maps are asked for chunks from then on; the peers their swarm hints name are met next. */
  #admit(maps: Map<string, HolderMap>): void {
    for (const [peer, held] of maps) {
      this.#known.add(peer);
      if (!sameLayout(held.map, this.map)) continue;
      this.#picker.announce(peer, held.have ?? this.#whole);
      this.#holders.add(peer);
      if (held.have) this.#partialHolders.add(peer);
      if (held.swarm) this.#learn(peer, held.swarm);
    }
    this.#report();
    this.#wakeUp();
  }

  /** A holder's swarm hint: what it has sent steers what it is asked for, and the fellow fetchers it names are met. */
  #learn(peer: string, swarm: SwarmHint): void {
    if (this.#picker.peer(peer)?.banned) return;
    this.#picker.sentBy(peer, swarm.sent);
    this.#meet(swarm.peers);
  }

  /** Asks peers fetching the same blob for their maps, in the background; those that answer become holders. */
  #meet(peers: readonly string[]): void {
    const now = Date.now();
    const fresh = peers.filter((peer) => !this.#known.has(peer) && now - (this.#metAt.get(peer) ?? -Infinity) >= MEET_AGAIN_MS);
    if (fresh.length === 0 || this.#ending.signal.aborted) return;
    for (const peer of fresh) this.#metAt.set(peer, now);
    const signal = anyOf(this.options.signal, this.#ending.signal);
    const meeting = holderMaps(this.options.transport, fresh, this.map, signal)
      .then((maps) => this.#admit(maps))
      .catch((error: unknown) => {
        if (!signal.aborted) this.options.logger.debug({ digest: this.map.digest, err: error }, 'meeting fellow fetchers failed');
      })
      .finally(() => this.#meetings.delete(meeting));
    this.#meetings.add(meeting);
  }

  #send(request: ChunkRequest): void {
    const { transport, signal } = this.options;
    const controller = new AbortController();
    const key = `${request.peer} ${request.chunk}`;
    const { start, end } = chunkRange(this.map, request.chunk);
    const done = (async () => {
      let bytes: Buffer;
      try {
        await this.options.pace?.take(end - start, anyOf(signal, controller.signal));
        const chunk = { digest: this.map.digest, index: request.chunk, maxBytes: end - start, chunkCount: this.#chunkCount };
        bytes = await requestChunk(transport, request.peer, { ...chunk, onSwarm: (swarm) => this.#learn(request.peer, swarm) }, anyOf(signal, controller.signal));
      } catch (error) {
        if (controller.signal.aborted || signal?.aborted) return;
        if (error instanceof ChunkElsewhere) {
          this.#picker.elsewhere(request.peer, request.chunk, Date.now());
          if (error.swarm) this.#learn(request.peer, error.swarm);
          this.#meet([error.peer]);
        } else this.#lapse(request, error);
        return;
      }
      this.#fetched += bytes.byteLength;
      this.#failures.delete(request.peer);
      try {
        await this.partial.write(request.chunk, bytes, signal);
      } catch (error) {
        if (!(error instanceof ProductError && error.code === 'OD_ERR_DIGEST_MISMATCH')) throw error;
        this.options.logger.warn({ digest: this.map.digest, chunk: request.chunk, peer: request.peer }, 'a holder sent a chunk that fails its checksum; fetching it elsewhere');
        for (const freed of this.#picker.received(request.peer, request.chunk, false)) this.#cancel(freed);
        if (this.#picker.peer(request.peer)?.banned) this.#drop(request.peer);
        return;
      }
      for (const duplicate of this.#picker.received(request.peer, request.chunk, true, Date.now())) this.#cancel(duplicate);
      this.#report();
    })()
      .catch((error: unknown) => void (this.#failure ??= error))
      .finally(() => {
        if (this.#inFlight.get(key)?.controller === controller) this.#inFlight.delete(key);
        this.#wakeUp();
      });
    this.#inFlight.set(key, { controller, done });
  }

  #lapse(request: ChunkRequest, error: unknown): void {
    this.#picker.failed(request.peer, request.chunk);
    const failures = (this.#failures.get(request.peer) ?? 0) + 1;
    this.#failures.set(request.peer, failures);
    this.options.logger.debug({ digest: this.map.digest, chunk: request.chunk, peer: request.peer, err: error }, 'a chunk request failed');
    if (failures >= MAX_CONSECUTIVE_FAILURES) {
      this.options.logger.warn({ digest: this.map.digest, peer: request.peer, err: error }, 'a holder keeps failing; no longer asking it');
      for (const freed of this.#picker.removePeer(request.peer)) this.#cancel(freed);
      this.#drop(request.peer);
    }
  }

  #drop(peer: string): void {
    this.#holders.delete(peer);
    this.#partialHolders.delete(peer);
    this.#report();
  }

  #cancel(request: Pick<ChunkRequest, 'peer' | 'chunk'>): void {
    this.#inFlight.get(`${request.peer} ${request.chunk}`)?.controller.abort(new Error('no longer needed'));
  }

  /** Asks the holders of part of the blob what they hold now; a holder that completed is whole from then on. */
  async #refresh(): Promise<void> {
    const signal = anyOf(this.options.signal, this.#ending.signal);
    const asked = [...this.#partialHolders];
    let maps: Map<string, HolderMap>;
    try {
      maps = await holderMaps(this.options.transport, asked, this.map, signal);
    } catch (error) {
      if (!signal.aborted) this.options.logger.debug({ digest: this.map.digest, err: error }, 'asking holders what they hold failed');
      return;
    }
    for (const peer of asked) {
      const held = maps.get(peer);
      if (!held || !sameLayout(held.map, this.map) || this.#picker.peer(peer)?.banned) continue;
      this.#picker.announce(peer, held.have ?? this.#whole);
      if (!held.have) this.#partialHolders.delete(peer);
      if (held.swarm) this.#learn(peer, held.swarm);
    }
    this.#wakeUp();
  }

  #report(): void {
    const progress = { digest: this.map.digest, total: this.map.size, done: this.#heldBytes(), kept: this.#kept, fetched: this.#fetched, holders: [...this.#holders] };
    this.options.onProgress?.(progress);
  }

  /** The picker holds a chunk once its write resolved, so once the sidecar lists it: what a restart keeps. */
  #heldBytes(): number {
    let held = 0;
    for (let chunk = 0; chunk < this.#chunkCount; chunk++) {
      if (!this.#picker.has(chunk)) continue;
      const { start, end } = chunkRange(this.map, chunk);
      held += end - start;
    }
    return held;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
