// Chunk checksums for model distribution: 256 MiB in 8 MiB chunks through the chunk hasher's
// piscina workers (hash-wasm xxh64 and xxh3, 1 and 2 threads) and hash-wasm in this thread, in GB/s
// beside node:crypto sha256 of the same chunks in the same run.

import { createHash, randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createXXHash3, createXXHash64 } from 'hash-wasm';
import { DEFAULT_CHUNK_SIZE, type ChunkAlgorithm } from '../core/distribution/chunk-map.js';
import { chunkHasher, type ChunkHasher } from '../core/distribution/hasher.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface ChunkHashBenchOptions {
  bytes?: number;
  chunkSize?: number;
  /** Rounds per variant; the variants take turns and each figure is the median. */
  rounds?: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

export async function run(options: ChunkHashBenchOptions = {}): Promise<BenchmarkRow[]> {
  const bytes = options.bytes ?? 256 * 1024 * 1024;
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const rounds = options.rounds ?? 5;
  // Shared memory, as mapOfFile reads a file: the workers hash it in place.
  const data = new Uint8Array(new SharedArrayBuffer(bytes));
  randomFillSync(data);
  const inThread = { xxh64: await createXXHash64(), xxh3: await createXXHash3() };
  const hashers = [1, 2].map((threads) => chunkHasher({ threads }));
  await Promise.all(hashers.map((hasher) => hasher.start()));
  try {
    const eachChunk = (hash: (chunk: Uint8Array) => void) => {
      for (let start = 0; start < bytes; start += chunkSize) hash(data.subarray(start, start + chunkSize));
    };
    const pooled = (hasher: ChunkHasher, algorithm: ChunkAlgorithm) => () => hasher.checksums(data, chunkSize, { algorithm });
    const variants: [string, () => unknown][] = [
      ['node:crypto sha256, this thread', () => eachChunk((chunk) => createHash('sha256').update(chunk).digest('hex'))],
      ...(['xxh64', 'xxh3'] as const).flatMap((algorithm): [string, () => unknown][] => [
        [`hash-wasm ${algorithm}, this thread`, () => eachChunk((chunk) => inThread[algorithm].init().update(chunk).digest('hex'))],
        ...hashers.map((hasher): [string, () => unknown] => [`hash-wasm ${algorithm}, ${hasher.threads} piscina worker(s)`, pooled(hasher, algorithm)]),
      ]),
    ];
    const samples = variants.map((): number[] => []);
    for (const [, variant] of variants) await variant();
    for (let round = 0; round < rounds; round++) {
      for (const [i, [, variant]] of variants.entries()) {
        const start = performance.now();
        await variant();
        samples[i]!.push(bytes / ((performance.now() - start) / 1000) / 1e9);
      }
    }
    const [baseline, ...rest] = samples.map(median) as [number, ...number[]];
    const size = `${bytes / 2 ** 20} MiB in ${chunkSize / 2 ** 20} MiB chunks`;
    return [baseline, ...rest].map((value, i) => ({
      name: `${variants[i]![0]} (${size})`,
      value,
      unit: 'GB/s',
      baseline,
      baselineName: 'node:crypto sha256',
      ratio: value / baseline,
      better: 'higher',
    }));
  } finally {
    await Promise.all(hashers.map((hasher) => hasher.stop()));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
