// The serving side of the chunk protocol: chunk maps, chunks and manifests from this node's store,
// and chunks already verified in blobs still being fetched, so a copy spreads while it runs.

import { open } from 'node:fs/promises';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import type { PeerStream, Transport } from '../contracts/transport.js';
import type { Logger } from '../log.js';
import { parseModelName } from '../models/name.js';
import { chunkCount, chunkRange, DEFAULT_CHUNK_SIZE, type ChunkMap } from './chunk-map.js';
import { CHUNK_PROTOCOL, encodeFrame, FrameReader, MAX_REQUEST_BYTES, parseRequest, type ChunkAnswer, type ChunkRequestMessage, type SwarmFields } from './chunk-protocol.js';
import type { ChunkHasher } from './hasher.js';
import { readFully, type PartialBlob } from './partial-blob.js';
import { haveBitmap } from './piece-picker.js';
import { Swarms } from './swarm.js';

/** A peer that opens a stream and sends nothing is cut off after this. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A peer that reads an answer slower than this (a chunk at under 70 KB/s) is cut off. */
const ANSWER_TIMEOUT_MS = 120_000;
/** Maps of complete blobs kept in memory; computing one reads the whole blob. */
const MAP_CACHE_ENTRIES = 512;
/** A fetcher asks every second or two while it fetches; one silent this long has finished or gone. */
const SWARM_MEMORY_MS = 30_000;
/** A fetcher asks several times a second; one silent this long passes nothing on. */
const SWARM_ACTIVE_MS = 5000;
/** Smaller chunks (a config blob's) cost less to send again than to wait for. */
const MIN_PASS_ON_BYTES = 1024 * 1024;

export interface ChunkServerComponents {
  transport: Pick<Transport, 'handle' | 'unhandle'>;
  store: Pick<ModelStore, 'hasBlob' | 'blobPath' | 'getModel'>;
  hasher: Pick<ChunkHasher, 'mapOfFile'>;
  logger: Logger;
}

export interface ChunkServerOptions {
  /** The chunk size of the maps this node makes of its complete blobs. */
  chunkSize?: number;
  /** Chunks read and sent at once; more requests wait their turn, so memory stays within this many chunks. */
  maxConcurrentChunks?: number;
}

export class ChunkServer implements Startable {
  readonly #components: ChunkServerComponents;
  /** Complete blobs' maps, oldest first. */
  readonly #maps = new Map<string, Promise<ChunkMap>>();
  /** Blobs being fetched here, which serve their verified chunks. */
  readonly #partials = new Map<string, PartialBlob>();
  readonly #chunkSize: number;
  readonly #maxConcurrentChunks: number;
  /** Chunk answers under way, and the requests waiting for one to end. */
  #answering = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #swarms = new Swarms({ forgetAfterMs: SWARM_MEMORY_MS, maxBlobs: 64, maxPeers: 64, activeMs: SWARM_ACTIVE_MS });
  #started = false;

  constructor(components: ChunkServerComponents, options: ChunkServerOptions = {}) {
    this.#components = components;
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#maxConcurrentChunks = options.maxConcurrentChunks ?? 32;
  }

  /** Chunk answers being read or sent now. */
  get answering(): number {
    return this.#answering;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#components.transport.handle(CHUNK_PROTOCOL, (stream) => this.#serve(stream));
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.#components.transport.unhandle(CHUNK_PROTOCOL);
  }

  /** Serves the verified chunks of a blob being fetched until `withdraw`. */
  offer(partial: PartialBlob): void {
    this.#partials.set(partial.map.digest, partial);
  }

  withdraw(partial: PartialBlob): void {
    if (this.#partials.get(partial.map.digest) === partial) this.#partials.delete(partial.map.digest);
  }

  /** A complete blob's chunk map, computed once and kept; undefined when the store lacks the blob or its bytes no longer hash to it. */
  async mapOf(digest: string): Promise<ChunkMap | undefined> {
    const { store, hasher } = this.#components;
    if (!(await store.hasBlob(digest))) {
      this.#maps.delete(digest);
      return undefined;
    }
    let map = this.#maps.get(digest);
    if (!map) {
      map = hasher.mapOfFile(store.blobPath(digest), this.#chunkSize);
      this.#maps.set(digest, map);
      map.catch(() => this.#maps.delete(digest));
      if (this.#maps.size > MAP_CACHE_ENTRIES) this.#maps.delete(this.#maps.keys().next().value!);
    }
    const computed = await map;
    if (computed.digest === digest) return computed;
    this.#maps.delete(digest);
    this.#components.logger.error({ digest, actual: computed.digest }, 'a blob in the store does not hash to its name; not serving it');
    return undefined;
  }

  async #serve(stream: PeerStream): Promise<void> {
    const timer = setTimeout(() => stream.abort(new Error('no request in time')), REQUEST_TIMEOUT_MS);
    let request: ChunkRequestMessage;
    try {
      request = parseRequest(await new FrameReader(stream).frame(MAX_REQUEST_BYTES));
    } catch (error) {
      clearTimeout(timer);
      this.#components.logger.debug({ peer: stream.peerId, err: error }, 'refused a chunk protocol request');
      await this.#answer(stream, { type: 'error', error: (error as Error).message }).catch(() => {});
      return;
    }
    clearTimeout(timer);
    try {
      await this.#respond(stream, request, AbortSignal.timeout(ANSWER_TIMEOUT_MS));
    } catch (error) {
      this.#components.logger.debug({ peer: stream.peerId, request, err: error }, 'a chunk protocol answer failed');
      stream.abort(error as Error);
    }
  }

  async #respond(stream: PeerStream, request: ChunkRequestMessage, signal: AbortSignal): Promise<void> {
    if (request.type === 'manifest') {
      let model;
      try {
        model = await this.#components.store.getModel(parseModelName(request.model), signal);
      } catch (error) {
        return this.#answer(stream, { type: 'error', error: (error as Error).message });
      }
      return this.#answer(stream, model ? { type: 'manifest', manifest: model.manifest } : { type: 'error', error: `model '${request.model}' not found` });
    }
    const partial = this.#partials.get(request.digest);
    const map = partial?.map ?? (await this.mapOf(request.digest));
    if (!map) return this.#answer(stream, { type: 'error', error: `blob ${request.digest} is not here` });
    const count = chunkCount(map.size, map.chunkSize);
    if (request.type === 'map') {
      this.#swarms.asked(map.digest, count, stream.peerId, Date.now());
      const have = partial && Buffer.from(haveBitmap(count, partial.verifiedChunks())).toString('base64');
      return this.#answer(stream, { type: 'map', map, ...(have === undefined ? {} : { have }), ...this.#swarmFields(map.digest, stream.peerId) });
    }
    if (request.index >= count) return this.#answer(stream, { type: 'error', error: `chunk ${request.index} is outside the blob's ${count} chunks` });
    const { start, end } = chunkRange(map, request.index);
    const passOn = partial || end - start < MIN_PASS_ON_BYTES ? undefined : this.#swarms.passOn(map.digest, request.index, stream.peerId, Date.now());
    if (passOn) return this.#answer(stream, { type: 'elsewhere', index: request.index, peer: passOn, ...this.#swarmFields(map.digest, stream.peerId) });
    // Recorded in the same turn as the check, so two askers of one chunk at once do not both get it.
    this.#swarms.asked(map.digest, count, stream.peerId, Date.now(), request.index);
    await this.#turn(signal);
    try {
      let bytes: Buffer;
      try {
        bytes = partial ? await partial.read(request.index) : await this.#readChunk(map, request.index);
      } catch (error) {
        return await this.#answer(stream, { type: 'error', error: (error as Error).message });
      }
      const header: ChunkAnswer = { type: 'chunk', index: request.index, length: bytes.byteLength, ...this.#swarmFields(map.digest, stream.peerId) };
      await stream.write(encodeFrame(header), signal);
      await stream.write(bytes, signal);
      await stream.closeWrite();
    } finally {
      this.#answering--;
      // Every waiter checks again, so one whose signal fired meanwhile takes no turn from the others.
      for (const wake of this.#waiting.splice(0)) wake();
    }
  }

  #swarmFields(digest: string, requester: string): SwarmFields {
    const hint = this.#swarms.hint(digest, requester, Date.now());
    return hint ? { peers: hint.peers, sent: Buffer.from(hint.sent).toString('base64') } : {};
  }

  /** Resolves once a chunk answer may start, counting it as under way. */
  async #turn(signal: AbortSignal): Promise<void> {
    while (this.#answering >= this.#maxConcurrentChunks) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    this.#answering++;
  }

  /** One positional read into one buffer: a stream of the store's small pieces costs several times more. */
  async #readChunk(map: ChunkMap, index: number): Promise<Buffer> {
    const { start, end } = chunkRange(map, index);
    const bytes = Buffer.allocUnsafe(end - start);
    const handle = await open(this.#components.store.blobPath(map.digest), 'r');
    try {
      await readFully(handle, bytes, start);
    } finally {
      await handle.close();
    }
    return bytes;
  }

  async #answer(stream: PeerStream, answer: ChunkAnswer): Promise<void> {
    await stream.write(encodeFrame(answer));
    await stream.closeWrite();
  }
}
