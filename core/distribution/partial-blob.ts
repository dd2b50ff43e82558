// A blob being fetched chunk by chunk, in any order: bytes go to `<blob>-partial` at their offsets
// and the verified chunks to a sidecar, so a restart resumes, and the blob appears whole or not at all.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProductError } from '../errors.js';
import { chunkCount, chunkRange, type ChunkMap } from './chunk-map.js';
import type { ChunkHasher } from './hasher.js';
import { haveBitmap } from './piece-picker.js';

/** Ollama's own suffix for a download in progress, as the store and registry pulls use it. */
const PARTIAL_SUFFIX = '-partial';
const SIDECAR_SUFFIX = '-partial.chunks';
/** Bytes read at a time when the whole partial is hashed. */
const READ_BYTES = 8 * 1024 * 1024;

export interface PartialBlobOptions {
  /** Where the finished blob goes (the store's blob path); the partial and its sidecar sit beside it. */
  path: string;
  /** The blob's chunk map; its digest is the one the finished blob must have. */
  map: ChunkMap;
  hasher: Pick<ChunkHasher, 'verifyChunk'>;
  signal?: AbortSignal;
}

/** What the sidecar holds: the layout the offsets follow, and which chunks were verified. */
interface Sidecar {
  digest: string;
  size: number;
  chunkSize: number;
  /** haveBitmap of the verified chunks, base64. */
  verified: string;
}

/**
 * Opens (or resumes) the partial of `map`'s blob. A chunk the sidecar lists is kept only when its
 * bytes on disk still match its checksum; the others are missing again.
 */
export async function openPartialBlob({ path, map, hasher, signal }: PartialBlobOptions): Promise<PartialBlob> {
  const partial = path + PARTIAL_SUFFIX;
  const sidecar = path + SIDECAR_SUFFIX;
  await mkdir(dirname(path), { recursive: true });
  const handle = await openReadWrite(partial);
  try {
    if ((await handle.stat()).size !== map.size) await handle.truncate(map.size);
    const verified = new Set<number>();
    const listed = await readSidecar(sidecar, map);
    for (const chunk of listed) {
      signal?.throwIfAborted();
      const { start, end } = chunkRange(map, chunk);
      const bytes = Buffer.allocUnsafe(end - start);
      await readFully(handle, bytes, start);
      if (await hasher.verifyChunk(map, chunk, bytes, signal)) verified.add(chunk);
    }
    const blob = new PartialBlob({ path, partial, sidecar, map, hasher, handle, verified });
    if (verified.size !== listed.length) await blob.persisted();
    return blob;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

interface PartialState {
  path: string;
  partial: string;
  sidecar: string;
  map: ChunkMap;
  hasher: Pick<ChunkHasher, 'verifyChunk'>;
  handle: FileHandle;
  verified: Set<number>;
}

export class PartialBlob {
  readonly map: ChunkMap;
  readonly path: string;
  #state: PartialState;
  #settled = false;
  /** The sidecar write under way, and the next one, which snapshots the verified chunks when it starts. */
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  /** Writes under way, which close waits for before it closes the file. */
  readonly #writes = new Set<Promise<void>>();

  constructor(state: PartialState) {
    this.#state = state;
    this.map = state.map;
    this.path = state.path;
  }

  /** Verified chunks, in order. */
  verifiedChunks(): number[] {
    return [...this.#state.verified].sort((a, b) => a - b);
  }

  isVerified(chunk: number): boolean {
    return this.#state.verified.has(chunk);
  }

  /**
   * Verifies chunk `index` and writes it at its offset; resolves once the sidecar records it.
   * Bytes that fail their checksum are refused (OD_ERR_DIGEST_MISMATCH) and nothing is written.
   * Different chunks may be written concurrently; a chunk already verified is left as it is.
   */
  async write(index: number, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#assertOpen();
    const writing = this.#write(index, bytes, signal);
    const tracked = writing.catch(() => {}).finally(() => this.#writes.delete(tracked));
    this.#writes.add(tracked);
    return writing;
  }

  async #write(index: number, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const { start } = chunkRange(this.map, index);
    signal?.throwIfAborted();
    if (this.#state.verified.has(index)) return;
    if (!(await this.#state.hasher.verifyChunk(this.map, index, bytes, signal))) {
      throw new ProductError('OD_ERR_DIGEST_MISMATCH', `chunk ${index} of ${this.map.digest} does not match its ${this.map.algorithm} checksum`);
    }
    if (this.#settled) throw new ProductError('OD_ERR_INTERNAL', `the partial of ${this.map.digest} was closed while chunk ${index} was verified`);
    await writeAll(this.#state.handle, bytes, start);
    this.#state.verified.add(index);
    await this.persisted();
  }

  /** A verified chunk's bytes, to serve to peers while the rest downloads. */
  async read(index: number): Promise<Buffer> {
    this.#assertOpen();
    const { start, end } = chunkRange(this.map, index);
    if (!this.#state.verified.has(index)) {
      throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `chunk ${index} of ${this.map.digest} is not verified here`);
    }
    const bytes = Buffer.allocUnsafe(end - start);
    await readFully(this.#state.handle, bytes, start);
    return bytes;
  }

  /**
   * Checks the whole partial against the map's sha256, fsyncs it and renames it to the blob's path.
   * On a mismatch the partial and sidecar are removed and OD_ERR_DIGEST_MISMATCH is thrown.
   */
  async finish(signal?: AbortSignal): Promise<void> {
    this.#assertOpen();
    const missing = chunkCount(this.map.size, this.map.chunkSize) - this.#state.verified.size;
    if (missing > 0) throw new ProductError('OD_ERR_INTERNAL', `${missing} chunks of ${this.map.digest} are not verified yet`);
    const { handle, partial, sidecar, path } = this.#state;
    this.#settled = true;
    try {
      const actual = await sha256Of(handle, this.map.size, signal);
      if (actual !== this.map.digest) {
        await this.#close();
        await Promise.all([rm(partial, { force: true }), rm(sidecar, { force: true })]);
        throw new ProductError('OD_ERR_DIGEST_MISMATCH', `chunks of ${this.map.digest} hash to ${actual} when whole`);
      }
      await handle.sync();
      await this.#close();
      await rename(partial, path);
      await syncDirectory(dirname(path));
      await rm(sidecar, { force: true });
    } catch (error) {
      await this.#close();
      throw error;
    }
  }

  /** Closes the partial and keeps it and its sidecar, for a later openPartialBlob to resume. */
  async close(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.#close();
  }

  /** Closes and removes the partial and its sidecar. */
  async discard(): Promise<void> {
    await this.close();
    await Promise.all([rm(this.#state.partial, { force: true }), rm(this.#state.sidecar, { force: true })]);
  }

  /** Resolves once the sidecar lists every chunk verified before the call. */
  persisted(): Promise<void> {
    this.#next ??= (async () => {
      await this.#running?.catch(() => {});
      this.#next = undefined;
      const write = this.#writeSidecar();
      this.#running = write;
      try {
        await write;
      } finally {
        if (this.#running === write) this.#running = undefined;
      }
    })();
    return this.#next;
  }

  /** The data reaches the disk before the sidecar that vouches for it. */
  async #writeSidecar(): Promise<void> {
    const { handle, sidecar, verified, map } = this.#state;
    await handle.datasync();
    const record: Sidecar = {
      digest: map.digest,
      size: map.size,
      chunkSize: map.chunkSize,
      verified: Buffer.from(haveBitmap(chunkCount(map.size, map.chunkSize), verified)).toString('base64'),
    };
    await writeFileAtomic(sidecar, Buffer.from(JSON.stringify(record)));
  }

  async #close(): Promise<void> {
    await Promise.allSettled(this.#writes);
    await Promise.allSettled([this.#next, this.#running]);
    await this.#state.handle.close().catch(() => {});
  }

  #assertOpen(): void {
    if (this.#settled) throw new ProductError('OD_ERR_INTERNAL', `the partial of ${this.map.digest} is already finished or closed`);
  }
}

/** Chunks the sidecar lists, when it belongs to this map's layout; none when it is absent, damaged or for another layout. */
async function readSidecar(path: string, map: ChunkMap): Promise<number[]> {
  let record: Partial<Sidecar>;
  try {
    record = JSON.parse(await readFile(path, 'utf8')) as Partial<Sidecar>;
  } catch {
    return [];
  }
  if (record?.digest !== map.digest || record.size !== map.size || record.chunkSize !== map.chunkSize || typeof record.verified !== 'string') return [];
  const count = chunkCount(map.size, map.chunkSize);
  const bitmap = Buffer.from(record.verified, 'base64');
  if (bitmap.byteLength !== Math.ceil(count / 8)) return [];
  const chunks: number[] = [];
  for (let chunk = 0; chunk < count; chunk++) if (bitmap[chunk >> 3]! & (0x80 >> (chunk & 7))) chunks.push(chunk);
  return chunks;
}

/** Positional writes need a mode other than append, which ignores the position on Linux. */
async function openReadWrite(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return await open(path, 'w+', 0o644);
  }
}

async function sha256Of(handle: FileHandle, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, size)));
  for (let position = 0; position < size; position += buffer.byteLength) {
    signal?.throwIfAborted();
    const bytes = buffer.subarray(0, Math.min(buffer.byteLength, size - position));
    await readFully(handle, bytes, position);
    hash.update(bytes);
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Fills `bytes` from `position`; fails when the file ends first. */
export async function readFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let read = 0;
  while (read < bytes.byteLength) {
    const { bytesRead } = await handle.read(bytes, read, bytes.byteLength - read, position + read);
    if (bytesRead === 0) throw new Error(`file ended at byte ${position + read}, expected ${bytes.byteLength - read} more`);
    read += bytesRead;
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written, position + written);
    written += bytesWritten;
  }
}

/** The store's temporary naming (a dot, 12 hex digits, .tmp), so its start-up prune removes a leftover. */
async function writeFileAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
