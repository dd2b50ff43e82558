// A worker thread of the chunk hasher (hasher.ts): checksums of consecutive chunks of one byte
// range per task, so a message pays for several chunks when the caller has them.

import { createXXHash3, createXXHash64, type IHasher } from 'hash-wasm';
import type { ChunkAlgorithm } from './chunk-map.js';

export interface ChunkHashTask {
  algorithm: ChunkAlgorithm;
  /** Shared memory (no copy) or a buffer transferred to this worker. */
  bytes: Uint8Array;
  chunkSize: number;
}

const hashers: Record<ChunkAlgorithm, IHasher> = { xxh64: await createXXHash64(), xxh3: await createXXHash3() };

export function checksumsOf(hasher: IHasher, bytes: Uint8Array, chunkSize: number): string[] {
  const checksums: string[] = [];
  for (let start = 0; start < bytes.byteLength; start += chunkSize) {
    checksums.push(hasher.init().update(bytes.subarray(start, start + chunkSize)).digest('hex'));
  }
  return checksums;
}

export default function chunkHashTask({ algorithm, bytes, chunkSize }: ChunkHashTask): string[] {
  return checksumsOf(hashers[algorithm], bytes, chunkSize);
}
