// A blob's chunk map: the blob cut into fixed-size chunks, each with a fast checksum, beside the
// blob's own sha256 digest. Maps come from peers, so parseChunkMap trusts nothing in them.

import { ProductError } from '../errors.js';
import { isDigest } from '../models/manifest.js';

/** Checksum algorithms a chunk map may name; hasher.ts says why xxh64 is the default. */
export const CHUNK_ALGORITHMS = ['xxh64', 'xxh3'] as const;
export type ChunkAlgorithm = (typeof CHUNK_ALGORITHMS)[number];
/** Both are 64-bit hashes, written as 16 lowercase hex digits. */
const CHECKSUM_PATTERN = /^[0-9a-f]{16}$/;

export const MIB = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 8 * MIB;
/** Smaller chunks make a map of millions of entries for a large model; larger ones make a bad chunk costly to re-fetch. */
export const MIN_CHUNK_SIZE = MIB;
export const MAX_CHUNK_SIZE = 64 * MIB;
/** Well above any model's largest blob, and within Number's safe integers. */
export const MAX_BLOB_SIZE = 2 * 1024 * 1024 * MIB;

export interface ChunkMap {
  /** The whole blob's `sha256:<64 hex>`, as in its manifest. */
  readonly digest: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly algorithm: ChunkAlgorithm;
  /** One per chunk, in order; the last chunk may be shorter than chunkSize. */
  readonly checksums: readonly string[];
}

/** Byte range of one chunk; `end` is exclusive. */
export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

/** A chunk map that fails validation; `field` names the offending field, e.g. `checksums[3]`. */
export class ChunkMapError extends ProductError {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super('OD_ERR_BAD_REQUEST', `chunk map: '${field}' ${problem}`);
    this.name = 'ChunkMapError';
  }
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

export function chunkRange(map: Pick<ChunkMap, 'size' | 'chunkSize'>, index: number): ChunkRange {
  const count = chunkCount(map.size, map.chunkSize);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`chunk ${index} is outside the blob's ${count} chunks`);
  }
  const start = index * map.chunkSize;
  return { start, end: Math.min(map.size, start + map.chunkSize) };
}

const FIELDS = new Set(['digest', 'size', 'chunkSize', 'algorithm', 'checksums']);

/**
 * Checks a map received from a peer field by field and returns a fresh copy holding only the known
 * fields. `expected` holds what the caller already trusts (the manifest's digest and size); a map
 * for another blob is refused.
 */
export function parseChunkMap(value: unknown, expected: { digest?: string; size?: number } = {}): ChunkMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChunkMapError('(map)', `must be an object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  const extra = Object.keys(record).find((key) => !FIELDS.has(key));
  if (extra !== undefined) throw new ChunkMapError(extra, 'is not a chunk map field');

  const { digest, size, chunkSize, algorithm, checksums } = record;
  if (!isDigest(digest)) throw new ChunkMapError('digest', `must be 'sha256:' and 64 lowercase hex digits, got ${describe(digest)}`);
  if (expected.digest !== undefined && digest !== expected.digest) {
    throw new ChunkMapError('digest', `is ${digest}, expected ${expected.digest}`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB_SIZE) {
    throw new ChunkMapError('size', `must be a whole number of bytes from 0 to ${MAX_BLOB_SIZE}, got ${describe(size)}`);
  }
  if (expected.size !== undefined && size !== expected.size) throw new ChunkMapError('size', `is ${size}, expected ${expected.size}`);
  if (typeof chunkSize !== 'number' || !Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new ChunkMapError('chunkSize', `must be a whole number of bytes from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}, got ${describe(chunkSize)}`);
  }
  if (typeof algorithm !== 'string' || !(CHUNK_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new ChunkMapError('algorithm', `must be one of ${CHUNK_ALGORITHMS.join(', ')}, got ${describe(algorithm)}`);
  }
  if (!Array.isArray(checksums)) throw new ChunkMapError('checksums', `must be an array, got ${describe(checksums)}`);
  const count = chunkCount(size, chunkSize);
  if (checksums.length !== count) {
    throw new ChunkMapError('checksums', `has ${checksums.length} entries, a ${size}-byte blob in ${chunkSize}-byte chunks has ${count}`);
  }
  checksums.forEach((checksum: unknown, i) => {
    if (typeof checksum !== 'string' || !CHECKSUM_PATTERN.test(checksum)) {
      throw new ChunkMapError(`checksums[${i}]`, `must be 16 lowercase hex digits, got ${describe(checksum)}`);
    }
  });
  return { digest, size, chunkSize, algorithm: algorithm as ChunkAlgorithm, checksums: [...(checksums as string[])] };
}

/** A short, safe rendering of a bad value for an error message. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
