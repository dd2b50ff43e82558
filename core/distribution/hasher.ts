// Chunk checksums in worker threads (piscina) and the chunk map of a file on disk, computed with
// the blob's sha256 in one read pass. Bytes reach the workers through shared memory where they can.
//
// Why xxh64: `npm run bench -- chunk-hash` (benchmarks/README.md, 2026-12-03, 2-core VM) hashed
// 256 MiB in 8 MiB chunks: hash-wasm xxh64 ran at 4.4 GB/s in one thread and 6.0 in two workers,
// xxh3 at 3.2 and 4.8, node:crypto sha256 at 1.0; xxh64 led xxh3 in every run (xxh3 wins on short
// inputs, which chunks are not). blake3 (0.47 GB/s in STACK.md) and hash-wasm sha256 (0.21) would
// make checksums the bottleneck. A checksum catches corruption and a peer's garbage early; the trust
// anchor is the blob's sha256, checked once the blob is whole (partial-blob.ts), so a
// non-cryptographic hash is enough.

import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Startable } from '../contracts/plugin.js';
import { ProductError } from '../errors.js';
import { buildOutput } from '../../wasm/build-output.js';
import { chunkCount, chunkRange, DEFAULT_CHUNK_SIZE, MAX_BLOB_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, type ChunkAlgorithm, type ChunkMap } from './chunk-map.js';
import type { ChunkHashTask } from './chunk-hash-worker.js';

export const DEFAULT_CHUNK_ALGORITHM: ChunkAlgorithm = 'xxh64';

export interface ChunkHasherOptions {
  /** Worker threads; scheduler.worker_count's default (cores − 1, at least 1) when omitted. */
  threads?: number;
  /** The algorithm of the maps this hasher makes; verifying follows each map's own. */
  algorithm?: ChunkAlgorithm;
}

export interface ChunkHasher extends Startable {
  readonly threads: number;
  readonly algorithm: ChunkAlgorithm;
  /** Checksums of `bytes` cut into `chunkSize` pieces (the last may be shorter), spread over the workers. */
  checksums(bytes: Uint8Array, chunkSize: number, options?: { algorithm?: ChunkAlgorithm; signal?: AbortSignal }): Promise<string[]>;
  /** Whether `bytes` are chunk `index` of the blob `map` describes: its length and its checksum. */
  verifyChunk(map: ChunkMap, index: number, bytes: Uint8Array, signal?: AbortSignal): Promise<boolean>;
  /** The chunk map of a file, its `digest` the file's sha256, reading the file once. */
  mapOfFile(path: string, chunkSize?: number, signal?: AbortSignal): Promise<ChunkMap>;
}

/** Cores − 1, at least 1, so the event loop keeps a core to itself (scheduler.worker_count's default). */
export const defaultHashThreads = (): number => Math.max(1, availableParallelism() - 1);

// Under tap this module runs from its TypeScript source, but piscina needs the compiled worker.
const workerPath = () =>
  buildOutput('dist/core/distribution/chunk-hash-worker.js', [
    new URL('./chunk-hash-worker.js', import.meta.url),
    new URL('../../dist/core/distribution/chunk-hash-worker.js', import.meta.url),
  ]);

const MODULE_HOOK_FLAGS = ['--import', '--require', '-r', '--loader', '--experimental-loader'];

// Module hooks (a TypeScript loader under tap) cost seconds per worker start, and the compiled
// worker needs none; every other flag of this process is kept.
function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const hook = MODULE_HOOK_FLAGS.find((flag) => arg === flag || arg.startsWith(`${flag}=`));
    if (hook === undefined) kept.push(arg);
    else if (arg === hook) i++;
  }
  return kept;
}

export function chunkHasher({ threads = defaultHashThreads(), algorithm = DEFAULT_CHUNK_ALGORITHM }: ChunkHasherOptions = {}): ChunkHasher {
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a whole number ≥ 1, got ${threads}`);
  let pool: Piscina<ChunkHashTask, string[]> | undefined;

  const running = () => {
    if (!pool) throw new ProductError('OD_ERR_INTERNAL', 'the chunk hasher is not started');
    return pool;
  };

  /** Shared memory goes as it is; other bytes are copied once into a buffer handed over to the worker. */
  const hashRange = (bytes: Uint8Array, chunkSize: number, algorithm: ChunkAlgorithm, signal?: AbortSignal) => {
    if (bytes.buffer instanceof SharedArrayBuffer) return running().run({ algorithm, bytes, chunkSize }, { signal: signal ?? null });
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return running().run({ algorithm, bytes: copy, chunkSize }, { transferList: [copy.buffer], signal: signal ?? null });
  };

  const hasher: ChunkHasher = {
    threads,
    algorithm,
    start() {
      if (pool) return;
      pool = new Piscina({ filename: workerPath(), minThreads: threads, maxThreads: threads, execArgv: workerExecArgv(process.execArgv) });
    },
    async stop() {
      const stopping = pool;
      pool = undefined;
      await stopping?.destroy();
    },
    async checksums(bytes, chunkSize, options = {}) {
      if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a whole number ≥ 1, got ${chunkSize}`);
      const count = chunkCount(bytes.byteLength, chunkSize);
      const perTask = Math.max(1, Math.ceil(count / threads)) * chunkSize;
      const tasks: Promise<string[]>[] = [];
      for (let start = 0; start < bytes.byteLength; start += perTask) {
        tasks.push(hashRange(bytes.subarray(start, start + perTask), chunkSize, options.algorithm ?? algorithm, options.signal));
      }
      return (await Promise.all(tasks)).flat();
    },
    async verifyChunk(map, index, bytes, signal) {
      const { start, end } = chunkRange(map, index);
      if (bytes.byteLength !== end - start) return false;
      const [checksum] = await hashRange(bytes, map.chunkSize, map.algorithm, signal);
      return checksum === map.checksums[index];
    },
    async mapOfFile(path, chunkSize = DEFAULT_CHUNK_SIZE, signal) {
      if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
        throw new RangeError(`chunkSize must be from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes, got ${chunkSize}`);
      }
      running();
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_BLOB_SIZE) throw new RangeError(`${path} is ${size} bytes, over the ${MAX_BLOB_SIZE} a chunk map may describe`);
        const sha256 = createHash('sha256');
        const checksums = await checksumFile(handle, { size, chunkSize }, sha256, (bytes) => hashRange(bytes, chunkSize, algorithm, signal), threads, signal);
        return { digest: `sha256:${sha256.digest('hex')}`, size, chunkSize, algorithm, checksums };
      } finally {
        await handle.close();
      }
    },
  };
  return hasher;
}

/**
 * Reads the file chunk by chunk into shared buffers, feeding sha256 in order on this thread while
 * the workers checksum earlier chunks. threads + 1 buffers keep every worker busy during a read.
 */
async function checksumFile(
  handle: FileHandle,
  layout: { size: number; chunkSize: number },
  sha256: Hash,
  checksum: (bytes: Uint8Array) => Promise<string[]>,
  threads: number,
  signal?: AbortSignal,
): Promise<string[]> {
  const count = chunkCount(layout.size, layout.chunkSize);
  const checksums = new Array<string>(count);
  const free: Uint8Array[] = [];
  let allocated = 0;
  const inFlight = new Set<Promise<void>>();
  try {
    for (let index = 0; index < count; index++) {
      signal?.throwIfAborted();
      while (free.length === 0 && allocated > threads) await Promise.race(inFlight);
      const buffer = free.pop() ?? (allocated++, new Uint8Array(new SharedArrayBuffer(layout.chunkSize)));
      const { start, end } = chunkRange(layout, index);
      const bytes = buffer.subarray(0, end - start);
      await readFully(handle, bytes, start);
      sha256.update(bytes);
      const task: Promise<void> = checksum(bytes)
        .then(([value]) => void (checksums[index] = value!))
        .finally(() => {
          inFlight.delete(task);
          free.push(buffer);
        });
      // Handled here so a failure is not unhandled while the loop awaits a read; race or all rethrows it.
      task.catch(() => {});
      inFlight.add(task);
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.allSettled(inFlight);
  }
  return checksums;
}

async function readFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let read = 0;
  while (read < bytes.byteLength) {
    const { bytesRead } = await handle.read(bytes, read, bytes.byteLength - read, position + read);
    if (bytesRead === 0) throw new Error(`file ended at byte ${position + read}, expected ${bytes.byteLength - read} more`);
    read += bytesRead;
  }
}
