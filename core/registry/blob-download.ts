// Downloads one blob into a BlobWriter with parallel HTTP range requests. Parts arrive in any
// order but are written in order, so the store's partial file is always a prefix it can resume.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { BlobWriter } from '../contracts/storage.js';
import type { Descriptor } from '../models/manifest.js';
import { statusError, type RegistryClient } from './client.js';
import { isTransient, RegistryConnectionError, RegistryProtocolError } from './registry-error.js';
import { blobPath } from './repository.js';

export interface DownloadTuning {
  /** Bytes per range request; a blob no bigger than this is one request. */
  partSize: number;
  /**
   * Range requests in flight at once. Parts ahead of the one being written wait in memory, so
   * memory is bounded by parallel × partSize, and a cancelled pull re-fetches at most that much.
   */
  parallel: number;
  /**
   * When the first part arrived at least this fast, one connection keeps up and the rest of the
   * blob comes in one request; slower, the rest is split into parallel parts. On loopback and
   * fast LANs extra connections only cost CPU; over the internet they multiply throughput.
   */
  singleStreamBytesPerSecond: number;
  /** Further attempts for a part after a transient failure (connection cut, 5xx, stall). */
  retries: number;
  /** Delay before the first retry; it doubles with each attempt. */
  retryDelayMs: number;
}

export const DEFAULT_DOWNLOAD_TUNING: DownloadTuning = {
  partSize: 32 * 1024 * 1024,
  parallel: 4,
  singleStreamBytesPerSecond: 100e6,
  retries: 6,
  retryDelayMs: 500,
};

export interface BlobDownload {
  client: RegistryClient;
  /** `namespace/model` as the registry spells it. */
  repository: string;
  descriptor: Descriptor;
  writer: BlobWriter;
  /** Bytes of the blob received so far, including what the writer already held. */
  onBytes: (completed: number) => void;
  signal?: AbortSignal;
  tuning: DownloadTuning;
}

/** Writes smaller than this wait for more bytes, unless the part is complete. */
const MIN_WRITE = 1024 * 1024;
/** The least a part may queue before its connection waits for the writer: above MIN_WRITE, so a write can always start. */
const MIN_QUEUE = 4 * MIN_WRITE;
const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One byte range of the blob: bytes received for it wait here until the writer reaches it. */
class Part {
  received = 0;
  /** When the last byte arrived (performance.now()). */
  receivedAt = 0;
  #queue: Buffer[] = [];
  #queued = 0;
  #finished = false;
  #failure: { error: unknown } | undefined;
  #wake: (() => void) | undefined;
  #drained: (() => void) | undefined;

  constructor(
    readonly start: number,
    readonly end: number,
  ) {}

  get length(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    this.received += chunk.byteLength;
    this.#notify();
  }

  /** Waits while more than `limit` bytes are queued, so a long part cannot outrun the writer unbounded. */
  async room(limit: number, signal: AbortSignal): Promise<void> {
    while (this.#queued > limit) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        this.#drained = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  finish(): void {
    this.#finished = true;
    this.receivedAt = performance.now();
    this.#notify();
  }

  fail(error: unknown): void {
    this.#failure = { error };
    this.#notify();
  }

  /**
   * The next bytes to write, or undefined once the part is written. Bytes received before a
   * failure are handed out first, so they reach the partial file and count for a resume.
   */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const settled = this.#finished || this.#failure !== undefined;
      if (this.#queued >= MIN_WRITE || (settled && this.#queued > 0)) return this.#take();
      if (this.#failure) throw this.#failure.error;
      if (this.#finished) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #take(): Buffer {
    const batch = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue, this.#queued);
    this.#queue = [];
    this.#queued = 0;
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
    return batch;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

export async function downloadBlob(download: BlobDownload): Promise<void> {
  const { descriptor, writer, tuning } = download;
  const size = descriptor.size;
  const start = writer.offset;
  if (start >= size) return;

  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(download.signal?.reason);
  download.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (download.signal?.aborted) onOuterAbort();
  const signal = controller.signal;

  let completed = start;
  download.onBytes(completed);
  const received = (bytes: number) => {
    completed += bytes;
    download.onBytes(completed);
  };
  const source = new BlobSource(download, signal, received);
  const tasks: Promise<void>[] = [];
  // No signal on writes: bytes already received still reach the partial file when a pull is cancelled.
  const write = async (part: Part) => {
    for (let batch = await part.next(); batch; batch = await part.next()) await writer.write(batch);
  };
  try {
    const startedAt = performance.now();
    const probe = await source.open(start, Math.min(size, start + tuning.partSize));
    // A registry that ignores Range sends the whole blob: read it once, skipping what we hold.
    const first = new Part(start, probe.statusCode === 200 ? size : Math.min(size, start + tuning.partSize));
    tasks.push(source.fetch(first, probe));
    await write(first);
    if (first.end === size) return;
    const firstRate = (first.length * 1000) / Math.max(1, first.receivedAt - startedAt);
    const parts = firstRate >= tuning.singleStreamBytesPerSecond ? [new Part(first.end, size)] : splitRange(first.end, size, tuning.partSize);
    const parallel = Math.max(1, tuning.parallel);
    let launched = 0;
    for (let head = 0; head < parts.length; head++) {
      for (; launched < parts.length && launched < head + parallel; launched++) tasks.push(source.fetch(parts[launched]!));
      await write(parts[head]!);
    }
  } catch (error) {
    controller.abort(error);
    throw error;
  } finally {
    await Promise.allSettled(tasks);
    download.signal?.removeEventListener('abort', onOuterAbort);
  }
}

function splitRange(start: number, end: number, partSize: number): Part[] {
  const parts: Part[] = [];
  for (let offset = start; offset < end; offset += partSize) parts.push(new Part(offset, Math.min(end, offset + partSize)));
  return parts;
}

/** Where the blob's bytes come from: the registry's URL, or the one it redirected to. */
class BlobSource {
  #url: URL;

  constructor(
    private readonly download: BlobDownload,
    private readonly signal: AbortSignal,
    private readonly received: (bytes: number) => void,
  ) {
    this.#url = download.client.url(blobPath(download.repository, download.descriptor.digest));
  }

  /** Requests bytes [from, to); follows redirects and keeps the final URL for later parts. */
  async open(from: number, to: number): Promise<Dispatcher.ResponseData> {
    let url = this.#url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await this.download.client.send({
        method: 'GET',
        url,
        headers: { range: `bytes=${from}-${to - 1}` },
        signal: this.signal,
      });
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode)) {
        this.#url = url;
        return response;
      }
      await response.body.dump();
      if (typeof location !== 'string') throw new RegistryProtocolError(`redirect ${response.statusCode} without a Location`);
      url = new URL(location, url);
    }
    throw new RegistryProtocolError(`more than ${MAX_REDIRECTS} redirects for blob ${this.download.descriptor.digest}`);
  }

  /** Fills `part`, retrying transient failures from the first byte it still lacks. Never rejects. */
  async fetch(part: Part, first?: Dispatcher.ResponseData): Promise<void> {
    const { retries, retryDelayMs } = this.download.tuning;
    let response = first;
    for (let attempt = 0; ; attempt++) {
      try {
        response ??= await this.open(part.start + part.received, part.end);
        await this.#receive(response, part);
        part.finish();
        return;
      } catch (error) {
        response?.body.destroy();
        response = undefined;
        if (this.signal.aborted) return part.fail(this.signal.reason);
        if (!isTransient(error) || attempt >= retries) return part.fail(error);
        try {
          await sleep(retryDelayMs * 2 ** attempt, undefined, { signal: this.signal });
        } catch {
          return part.fail(this.signal.reason);
        }
      }
    }
  }

  async #receive(response: Dispatcher.ResponseData, part: Part): Promise<void> {
    const from = part.start + part.received;
    const size = this.download.descriptor.size;
    let skip = 0;
    if (response.statusCode === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(response.headers['content-range'] ?? ''));
      if (!range || Number(range[1]) !== from || (range[3] !== '*' && Number(range[3]) !== size)) {
        throw new RegistryProtocolError(
          `asked for bytes ${from}-${part.end - 1} of a ${size}-byte blob, got Content-Range '${response.headers['content-range'] ?? ''}'`,
        );
      }
    } else if (response.statusCode === 200) {
      const length = Number(response.headers['content-length'] ?? size);
      if (length !== size) throw new RegistryProtocolError(`blob ${this.download.descriptor.digest} is ${length} bytes, the manifest says ${size}`);
      skip = from;
    } else {
      throw await statusError(response);
    }
    try {
      for await (const data of response.body) {
        let chunk = data as Buffer;
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.byteLength);
          skip -= dropped;
          chunk = chunk.subarray(dropped);
        }
        const wanted = part.length - part.received;
        if (chunk.byteLength > wanted) {
          if (response.statusCode === 206) throw new RegistryProtocolError(`sent more than the ${part.length} bytes of range ${part.start}-${part.end - 1}`);
          chunk = chunk.subarray(0, wanted);
        }
        if (chunk.byteLength > 0) {
          part.push(chunk);
          this.received(chunk.byteLength);
          await part.room(Math.max(this.download.tuning.partSize, MIN_QUEUE), this.signal);
        }
        // A whole blob sent for a range: stop reading once the range is in.
        if (part.received === part.length && response.statusCode === 200) {
          response.body.destroy();
          break;
        }
      }
    } catch (error) {
      if (error instanceof RegistryProtocolError || this.signal.aborted) throw error;
      throw new RegistryConnectionError(error);
    }
    if (part.received < part.length) {
      throw new RegistryConnectionError(new Error(`connection closed after ${part.received} of ${part.length} bytes`));
    }
  }
}
