// A blob written while it is hashed. Bytes go to blobs/sha256-<hex>-partial and only a verified
// digest is renamed to its blob name; a partial left by an earlier writer is re-hashed and continued.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { BlobWriter } from '../../core/contracts/storage.js';
import { ProductError } from '../../core/errors.js';
import { syncDirectory } from './atomic-write.js';
import { fileSize, isMissing, touch } from './file-info.js';
import { acquireLock, type Release } from './lock.js';
import type { StorePaths } from './paths.js';
import type { PendingBlobs } from './pending-blobs.js';

/**
 * Holds the digest's lock from open until commit or abort, so a second writer of the same digest
 * waits and then either resumes the kept partial or finds the blob complete, and collection leaves
 * the blob alone meanwhile. A commit claims the blob as pending until a manifest names it.
 */
export async function openFsBlobWriter(
  paths: StorePaths,
  digest: string,
  owner: { pending: PendingBlobs; onSettled: (writer: FsBlobWriter) => void },
  signal?: AbortSignal,
): Promise<FsBlobWriter> {
  const { pending, onSettled } = owner;
  const target = paths.blob(digest);
  const partial = paths.partialBlob(digest);
  const release = await acquireLock(partial, signal);
  try {
    // A copy from peers lays its partial out at chunk offsets, with a chunk list beside it: no prefix to resume.
    const chunkList = `${partial}.chunks`;
    if ((await fileSize(chunkList)) !== undefined) await Promise.all([rm(partial, { force: true }), rm(chunkList, { force: true })]);
    const complete = await fileSize(target);
    if (complete !== undefined) {
      // A partial beside a complete blob is a leftover from a writer that lost the race.
      await rm(partial, { force: true });
      return new FsBlobWriter({ digest, target, partial, blobsDir: paths.blobs, offset: complete, release, pending, onSettled });
    }
    await mkdir(paths.blobs, { recursive: true });
    const hash = createHash('sha256');
    const offset = await hashExisting(partial, hash, signal);
    const handle = await open(partial, 'a', 0o644);
    return new FsBlobWriter({ digest, target, partial, blobsDir: paths.blobs, offset, release, pending, onSettled, hash, handle });
  } catch (error) {
    release();
    throw error;
  }
}

interface WriterState {
  digest: string;
  target: string;
  partial: string;
  blobsDir: string;
  offset: number;
  release: Release;
  pending: PendingBlobs;
  onSettled: (writer: FsBlobWriter) => void;
  /** Absent when the blob was already complete at open. */
  hash?: Hash;
  handle?: FileHandle;
}

/**
 * Bytes go to disk in large pieces: a model written in the small pieces a network delivers makes
 * the kernel cache it in small pages, and memory-mapped inference over it runs measurably slower.
 */
const FLUSH_BYTES = 4 * 1024 * 1024;

export class FsBlobWriter implements BlobWriter {
  readonly digest: string;
  #state: WriterState;
  #offset: number;
  #settled = false;
  #writing = false;
  /** A failed write leaves the file and the running hash out of step; only abort is safe after it. */
  #failure: unknown;
  /** Two buffers: one fills (and is hashed) while the other is written, so hashing overlaps the disk. */
  #pending: Buffer | undefined;
  #spare: Buffer | undefined;
  #pendingLength = 0;
  #inFlight: Promise<void> | undefined;

  constructor(state: WriterState) {
    this.digest = state.digest;
    this.#state = state;
    this.#offset = state.offset;
  }

  get offset(): number {
    return this.#offset;
  }

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#assertUsable();
    signal?.throwIfAborted();
    if (chunk.byteLength === 0) return;
    const { handle, hash } = this.#state;
    if (!handle || !hash) {
      throw new ProductError('OD_ERR_DIGEST_MISMATCH', `blob ${this.digest} is already complete; extra bytes cannot match it`);
    }
    if (this.#writing) throw new Error('BlobWriter.write called before the previous write resolved');
    this.#writing = true;
    try {
      hash.update(chunk);
      this.#offset += chunk.byteLength;
      let copied = 0;
      while (copied < chunk.byteLength) {
        this.#pending ??= Buffer.allocUnsafe(FLUSH_BYTES);
        const take = Math.min(FLUSH_BYTES - this.#pendingLength, chunk.byteLength - copied);
        this.#pending.set(chunk.subarray(copied, copied + take), this.#pendingLength);
        this.#pendingLength += take;
        copied += take;
        if (this.#pendingLength === FLUSH_BYTES) await this.#flush(handle);
      }
    } catch (error) {
      this.#failure ??= error;
      throw error;
    } finally {
      this.#writing = false;
    }
  }

  /** Starts writing the filled buffer once the previous write is done; at most one is in flight. */
  async #flush(handle: FileHandle): Promise<void> {
    await this.#drain();
    if (this.#pendingLength === 0 || !this.#pending) return;
    const bytes = this.#pending.subarray(0, this.#pendingLength);
    this.#inFlight = writeAll(handle, bytes).then(
      () => undefined,
      (error: unknown) => void (this.#failure ??= error),
    );
    [this.#pending, this.#spare] = [this.#spare, this.#pending];
    this.#pendingLength = 0;
  }

  /** Waits for the write in flight; rethrows its failure. */
  async #drain(): Promise<void> {
    await this.#inFlight;
    this.#inFlight = undefined;
    if (this.#failure !== undefined) throw this.#failure;
  }

  async commit(signal?: AbortSignal): Promise<void> {
    this.#assertUsable();
    signal?.throwIfAborted();
    const { handle, hash, partial, target, blobsDir, pending } = this.#state;
    try {
      if (!handle || !hash) {
        await touch(target);
        pending.claim(this.digest);
        return;
      }
      await this.#flush(handle);
      await this.#drain();
      await syncAndClose(handle);
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== this.digest) {
        await rm(partial, { force: true });
        throw new ProductError('OD_ERR_DIGEST_MISMATCH', `bytes hash to ${actual}, expected ${this.digest}`);
      }
      await rename(partial, target);
      await syncDirectory(blobsDir);
      pending.claim(this.digest);
    } finally {
      this.#settle();
    }
  }

  async abort(options?: { keepPartial?: boolean }): Promise<void> {
    if (this.#settled) return;
    const { handle, partial } = this.#state;
    try {
      if (handle) {
        if (options?.keepPartial && this.#failure === undefined) {
          await this.#flush(handle);
          await this.#drain();
          await syncAndClose(handle);
        } else {
          await this.#inFlight;
          await handle.close();
        }
        if (!options?.keepPartial) await rm(partial, { force: true });
      }
    } finally {
      this.#settle();
    }
  }

  #assertUsable(): void {
    if (this.#settled) throw new Error(`BlobWriter for ${this.digest} is already committed or aborted`);
    if (this.#failure !== undefined) {
      throw new Error(`BlobWriter for ${this.digest} failed earlier; abort it`, { cause: this.#failure });
    }
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#state.release();
    this.#state.onSettled(this);
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written);
    written += bytesWritten;
  }
}

async function syncAndClose(handle: FileHandle): Promise<void> {
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Feeds an existing partial file into `hash`; returns its length (0 when there is none). */
async function hashExisting(path: string, hash: Hash, signal?: AbortSignal): Promise<number> {
  let length = 0;
  try {
    for await (const chunk of createReadStream(path, signal ? { signal } : {})) {
      hash.update(chunk as Buffer);
      length += (chunk as Buffer).byteLength;
    }
  } catch (error) {
    if (isMissing(error)) return 0;
    throw error;
  }
  return length;
}
