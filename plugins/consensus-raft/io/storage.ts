// The Raft core's durable state under consensus.data_dir: a segmented write-ahead log of entries
// and hard states (one checksummed record per saved batch), the latest snapshot and the cluster meta.

import { mkdir, open as openFile, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from 'pino';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import { CodecError, DEFAULT_LIMITS, decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot, type CodecLimits } from './codec.js';

export interface ClusterMeta {
  clusterId: string;
  nodeId: string;
}

/** What the directory held when it was opened. */
export interface StoredState {
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
  meta?: ClusterMeta;
}

/**
 * One Ready's worth of state. A snapshot here is one received from the leader: it replaces the
 * whole log. Entries must continue the log; one at an index the log already has replaces the
 * log's tail from there (a conflict).
 */
export interface SaveBatch {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
}

export interface StorageOptions {
  signal?: AbortSignal;
  /** A segment this large is closed and a new one started, so compaction deletes whole files. */
  segmentBytes?: number;
  logger?: Logger;
}

/** The directory holds state that cannot be read back as written; the message names the file. */
export class StorageCorruptError extends Error {
  override readonly name = 'StorageCorruptError';
  readonly code = 'OD_ERR_RAFT_STORAGE_CORRUPT';
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`consensus storage ${file}: ${problem}`);
  }
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Snapshots on disk may be larger than what one network frame carries. */
const DISK_LIMITS: CodecLimits = { ...DEFAULT_LIMITS, maxBytes: 2 ** 31 - 1 };

const RECORD_MAGIC = 0x52574c31; // "RWL1"
const SNAPSHOT_MAGIC = 0x52534e31; // "RSN1"
const HEADER_BYTES = 16;
/** Records start on 8-byte boundaries, which bounds the search for records after a bad one. */
const ALIGN = 8;

const ITEM_ENTRY = 1;
const ITEM_HARD_STATE = 2;
/** The log restarts after a snapshot installed from the leader: everything before is void. */
const ITEM_LOG_RESET = 3;

const SEGMENT_NAME = /^log-([0-9a-f]{16})\.wal$/;
const SNAPSHOT_NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const META_FILE = 'meta.json';
const TMP_SUFFIX = '.tmp';

const hex16 = (value: number) => value.toString(16).padStart(16, '0');
export const segmentName = (seq: number) => `log-${hex16(seq)}.wal`;
export const snapshotName = (index: number, term: number) => `snap-${hex16(index)}-${hex16(term)}.snap`;
export const tmpName = (name: string) => `${name}${TMP_SUFFIX}`;
const aligned = (offset: number) => Math.ceil(offset / ALIGN) * ALIGN;

interface Segment {
  seq: number;
  file: string;
  /** The highest index this segment still contributes to the log; later overrides lower it. */
  maxIndex: number;
}

interface Pending {
  kind: 'save' | 'compact';
  items: Uint8Array[];
  entries: Entry[];
  hardState?: HardState;
  snapshot?: Snapshot;
  /** Whether the batch must be on disk before it resolves (see save). */
  sync: boolean;
  done: { resolve(): void; reject(error: Error): void };
}

function item(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

function resetItem(index: number, term: number): Uint8Array {
  return item(ITEM_LOG_RESET, encodeEntry({ index, term, type: 'normal', data: new Uint8Array(0) }));
}

/** One record: header (magic, length, body checksum, header checksum), the body, zero padding. */
function record(items: Uint8Array[]): Buffer {
  const length = items.reduce((sum, part) => sum + part.length, 0);
  const out = Buffer.alloc(aligned(HEADER_BYTES + length));
  let offset = HEADER_BYTES;
  for (const part of items) {
    out.set(part, offset);
    offset += part.length;
  }
  out.writeUInt32BE(RECORD_MAGIC, 0);
  out.writeUInt32BE(length, 4);
  out.writeUInt32BE(crc32(out.subarray(HEADER_BYTES, HEADER_BYTES + length)), 8);
  out.writeUInt32BE(crc32(out.subarray(0, 12)), 12);
  return out;
}

type Parsed = { body: Buffer; end: number } | { problem: string };

function parseRecord(buffer: Buffer, offset: number): Parsed {
  if (buffer.length - offset < HEADER_BYTES) return { problem: 'the record header is cut short' };
  if (buffer.readUInt32BE(offset) !== RECORD_MAGIC) return { problem: 'no record starts here' };
  if (buffer.readUInt32BE(offset + 12) !== crc32(buffer.subarray(offset, offset + 12))) return { problem: 'the record header fails its checksum' };
  const length = buffer.readUInt32BE(offset + 4);
  const start = offset + HEADER_BYTES;
  if (buffer.length - start < length) return { problem: `the record body is cut short (${length} bytes declared, ${buffer.length - start} present)` };
  const body = buffer.subarray(start, start + length);
  if (buffer.readUInt32BE(offset + 8) !== crc32(body)) return { problem: 'the record body fails its checksum' };
  return { body, end: Math.min(aligned(start + length), buffer.length) };
}

/** A bad record followed by a good one is damage in the middle, not a write cut off by a crash. */
function anyRecordAfter(buffer: Buffer, offset: number): boolean {
  for (let at = aligned(offset + 1); at + HEADER_BYTES <= buffer.length; at += ALIGN) {
    if (buffer.readUInt32BE(at) === RECORD_MAGIC && 'body' in parseRecord(buffer, at)) return true;
  }
  return false;
}

function validHardState(state: HardState, what: string): void {
  if (!Number.isSafeInteger(state.term) || state.term < 0 || !Number.isSafeInteger(state.commit) || state.commit < 0 || (state.vote !== null && typeof state.vote !== 'string')) {
    throw new TypeError(`${what} must have non-negative integer term and commit and a string or null vote`);
  }
}

function parseMeta(raw: string, file: string): ClusterMeta {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new StorageCorruptError(file, 'is not JSON');
  }
  const meta = value as Partial<ClusterMeta> | null;
  const ok = (field: unknown) => typeof field === 'string' && field.length > 0 && field.length <= DEFAULT_LIMITS.maxIdBytes;
  if (!meta || !ok(meta.clusterId) || !ok(meta.nodeId)) throw new StorageCorruptError(file, 'must hold a non-empty clusterId and nodeId');
  return { clusterId: meta.clusterId!, nodeId: meta.nodeId! };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Temp file, fsync, rename, fsync the directory: after a crash the old file or the new one is there, whole. */
async function writeAtomically(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dir, tmpName(name));
  const handle = await openFile(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  await syncDir(dir);
}

export class RaftStorage {
  private readonly queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;
  private closed = false;
  private metaWrite: Promise<unknown> = Promise.resolve();
  /** The log's last index once every queued batch is written; checks new batches as they come. */
  private queuedLast: number;
  /** The hard state once every queued batch is written. */
  private queuedHardState: HardState | undefined;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly segments: Segment[],
    private active: FileHandle,
    private activeSize: number,
    private hardState: HardState | undefined,
    private snapshot: Snapshot | undefined,
    private readonly loaded: StoredState,
    lastIndex: number,
  ) {
    this.queuedLast = lastIndex;
    this.queuedHardState = hardState;
  }

  static async open(dir: string, options: StorageOptions = {}): Promise<RaftStorage> {
    const { signal, logger } = options;
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    await mkdir(dir, { recursive: true });
    signal?.throwIfAborted();
    const names = await readdir(dir);
    for (const name of names.filter((name) => name.endsWith(TMP_SUFFIX))) await rm(join(dir, name), { force: true });

    const snapshotFile = names.filter((name) => SNAPSHOT_NAME.test(name)).sort().at(-1);
    const snapshot = snapshotFile === undefined ? undefined : await readSnapshotFile(join(dir, snapshotFile));
    signal?.throwIfAborted();

    const segmentNames = names.filter((name) => SEGMENT_NAME.test(name)).sort();
    const segments: Segment[] = segmentNames.map((name) => ({ seq: parseInt(SEGMENT_NAME.exec(name)![1]!, 16), file: join(dir, name), maxIndex: 0 }));
    const log = new Replay(snapshot);
    let activeSize = 0;
    for (const [i, segment] of segments.entries()) {
      signal?.throwIfAborted();
      const last = i === segments.length - 1;
      const buffer = await readFile(segment.file);
      let offset = 0;
      while (offset < buffer.length) {
        const parsed = parseRecord(buffer, offset);
        if ('problem' in parsed) {
          if (!last || anyRecordAfter(buffer, offset)) throw new StorageCorruptError(segment.file, `the record at byte ${offset} is damaged: ${parsed.problem}`);
          logger?.warn({ file: segment.file, offset, cut: buffer.length - offset }, 'consensus log ends in a record cut short by a crash; cutting it off');
          break;
        }
        log.apply(parsed.body, segment, segments.slice(0, i + 1));
        offset = parsed.end;
      }
      if (last) activeSize = aligned(offset);
    }
    const state = log.finish(dir);

    let active: FileHandle;
    if (segments.length === 0) {
      segments.push({ seq: 1, file: join(dir, segmentName(1)), maxIndex: 0 });
      active = await openFile(segments[0]!.file, 'w+');
      await syncDir(dir);
    } else {
      active = await openFile(segments.at(-1)!.file, 'r+');
      if ((await active.stat()).size !== activeSize) {
        await active.truncate(activeSize);
        await active.sync();
      }
    }

    const metaRaw = await readFile(join(dir, META_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    const meta = metaRaw === undefined ? undefined : parseMeta(metaRaw, join(dir, META_FILE));
    const loaded: StoredState = { entries: state.entries };
    if (log.hardState) loaded.hardState = log.hardState;
    if (snapshot) loaded.snapshot = snapshot;
    if (meta) loaded.meta = meta;
    return new RaftStorage(dir, segmentBytes, segments, active, activeSize, log.hardState, snapshot, loaded, state.lastIndex);
  }

  load(): StoredState {
    return this.loaded;
  }

  /**
   * Durable when it resolves: one write and one fsync for this batch and any queued with it.
   * A batch that only moves the commit index is written but not fsynced (etcd raft's MustSync):
   * a commit index lost in a crash is learned again from the leader, and the next fsync of the
   * file carries it anyway. That fsync was on every commit's path: once on the leader before it
   * applies, once on each follower.
   */
  save(batch: SaveBatch): Promise<void> {
    const items: Uint8Array[] = [];
    let last = this.queuedLast;
    if (batch.snapshot) {
      if (this.snapshot && batch.snapshot.meta.index < this.snapshot.meta.index) {
        return Promise.reject(new RangeError(`snapshot at index ${batch.snapshot.meta.index} is older than the stored one at ${this.snapshot.meta.index}`));
      }
      items.push(resetItem(batch.snapshot.meta.index, batch.snapshot.meta.term));
      last = batch.snapshot.meta.index;
    }
    for (const entry of batch.entries) {
      if (!Number.isSafeInteger(entry.index) || entry.index < 1 || entry.index > last + 1) {
        return Promise.reject(new RangeError(`entry at index ${entry.index} does not continue the log, which ends at ${last}`));
      }
      if (this.snapshot && entry.index <= this.snapshot.meta.index && !batch.snapshot) {
        return Promise.reject(new RangeError(`entry at index ${entry.index} is inside the snapshot, which ends at ${this.snapshot.meta.index}`));
      }
      try {
        items.push(item(ITEM_ENTRY, encodeEntry(entry, DISK_LIMITS)));
      } catch (error) {
        return Promise.reject(error);
      }
      last = entry.index;
    }
    if (batch.hardState) {
      try {
        validHardState(batch.hardState, 'hardState');
        items.push(item(ITEM_HARD_STATE, encodeHardState(batch.hardState)));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const previous = this.queuedHardState;
    const sync = batch.entries.length > 0 || batch.snapshot !== undefined || (batch.hardState !== undefined && (batch.hardState.term !== previous?.term || batch.hardState.vote !== previous?.vote));
    return this.enqueue({ kind: 'save', items, entries: batch.entries, sync, ...(batch.hardState && { hardState: batch.hardState }), ...(batch.snapshot && { snapshot: batch.snapshot }) }, last);
  }

  /** Stores a snapshot of applied state and deletes what it covers: older snapshots, whole log segments. */
  compact(snapshot: Snapshot): Promise<void> {
    if (snapshot.meta.index > this.queuedLast) {
      return Promise.reject(new RangeError(`cannot compact to index ${snapshot.meta.index}: the log ends at ${this.queuedLast} (install a leader's snapshot with save)`));
    }
    if (this.snapshot && snapshot.meta.index < this.snapshot.meta.index) {
      return Promise.reject(new RangeError(`snapshot at index ${snapshot.meta.index} is older than the stored one at ${this.snapshot.meta.index}`));
    }
    return this.enqueue({ kind: 'compact', items: [], entries: [], snapshot, sync: true }, this.queuedLast);
  }

  setMeta(meta: ClusterMeta): Promise<void> {
    try {
      parseMeta(JSON.stringify(meta), 'the cluster meta to store');
    } catch (error) {
      return Promise.reject(error);
    }
    const bytes = Buffer.from(JSON.stringify({ clusterId: meta.clusterId, nodeId: meta.nodeId }));
    // One temp file name for the meta: two writes at once must not share it.
    const write = this.metaWrite.then(() => writeAtomically(this.dir, META_FILE, bytes));
    this.metaWrite = write.catch(() => undefined);
    return write;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.metaWrite;
    await this.active.close();
  }

  private enqueue(pending: Omit<Pending, 'done'>, last: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('consensus storage is closed'));
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...pending, done: { resolve, reject } });
      this.queuedLast = last;
      if (pending.hardState) this.queuedHardState = pending.hardState;
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.takeGroup();
      try {
        if (this.failed) throw this.failed;
        await this.write(group);
        for (const pending of group) pending.done.resolve();
      } catch (error) {
        // After a failed write or fsync the file's state is unknown: no later write may follow it.
        this.failed ??= new Error(`consensus storage in ${this.dir} failed a write and takes no more: ${(error as Error).message}`, { cause: error });
        for (const pending of group) pending.done.reject(this.failed);
      }
    }
    this.flushing = undefined;
  }

  /** Saves queued together share one record; a snapshot ends the group, since its file goes first. */
  private takeGroup(): Pending[] {
    const first = this.queue.shift()!;
    if (first.kind === 'compact') return [first];
    const group = [first];
    while (this.queue.length > 0 && this.queue[0]!.kind === 'save' && !this.queue[0]!.snapshot) group.push(this.queue.shift()!);
    return group;
  }

  private async write(group: Pending[]): Promise<void> {
    const head = group[0]!;
    if (head.snapshot) await this.writeSnapshot(head.snapshot);
    if (head.kind === 'compact') {
      await this.dropCovered(head.snapshot!.meta.index);
      return;
    }
    let created = false;
    if (this.activeSize >= this.segmentBytes) {
      await this.roll();
      created = true;
    }
    const items = group.flatMap((pending) => pending.items);
    if (created && this.hardState) items.unshift(item(ITEM_HARD_STATE, encodeHardState(this.hardState)));
    if (items.length > 0) {
      const bytes = record(items);
      await this.active.write(bytes, 0, bytes.length, this.activeSize);
      if (created || group.some((pending) => pending.sync)) await this.active.datasync();
      if (created) await syncDir(this.dir);
      this.activeSize += bytes.length;
    }
    const segment = this.segments.at(-1)!;
    for (const pending of group) {
      if (pending.snapshot) for (const earlier of this.segments) earlier.maxIndex = 0;
      for (const entry of pending.entries) {
        for (const earlier of this.segments) earlier.maxIndex = Math.min(earlier.maxIndex, entry.index - 1);
        segment.maxIndex = entry.index;
      }
      if (pending.hardState) this.hardState = pending.hardState;
    }
    if (head.snapshot) await this.dropCovered(head.snapshot.meta.index);
  }

  private async writeSnapshot(snapshot: Snapshot): Promise<void> {
    const body = encodeSnapshot(snapshot, DISK_LIMITS);
    const bytes = Buffer.alloc(8 + body.length);
    bytes.writeUInt32BE(SNAPSHOT_MAGIC, 0);
    bytes.writeUInt32BE(crc32(body), 4);
    bytes.set(body, 8);
    await writeAtomically(this.dir, snapshotName(snapshot.meta.index, snapshot.meta.term), bytes);
    this.snapshot = snapshot;
    const keep = snapshotName(snapshot.meta.index, snapshot.meta.term);
    for (const name of await readdir(this.dir)) {
      if (SNAPSHOT_NAME.test(name) && name !== keep) await rm(join(this.dir, name), { force: true });
    }
  }

  /** Deletes the oldest closed segments while all they still hold is inside the snapshot. */
  private async dropCovered(index: number): Promise<void> {
    let removed = false;
    while (this.segments.length > 1 && this.segments[0]!.maxIndex <= index) {
      await rm(this.segments.shift()!.file, { force: true });
      removed = true;
    }
    if (removed) await syncDir(this.dir);
  }

  private async roll(): Promise<void> {
    const seq = this.segments.at(-1)!.seq + 1;
    const segment: Segment = { seq, file: join(this.dir, segmentName(seq)), maxIndex: 0 };
    const next = await openFile(segment.file, 'w+');
    await this.active.close();
    this.active = next;
    this.activeSize = 0;
    this.segments.push(segment);
  }
}

async function readSnapshotFile(file: string): Promise<Snapshot> {
  const bytes = await readFile(file);
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new StorageCorruptError(file, 'is not a snapshot file');
  const body = bytes.subarray(8);
  if (bytes.readUInt32BE(4) !== crc32(body)) throw new StorageCorruptError(file, 'fails its checksum');
  try {
    return decodeSnapshot(body, DISK_LIMITS);
  } catch (error) {
    throw new StorageCorruptError(file, (error as Error).message);
  }
}

/** Rebuilds the log from the records in order: later entries replace the tail from their index. */
class Replay {
  entries: Entry[] = [];
  hardState: HardState | undefined;
  private resetTo = 0;

  constructor(private readonly snapshot: Snapshot | undefined) {}

  apply(body: Buffer, segment: Segment, upTo: Segment[]): void {
    let offset = 0;
    try {
      while (offset < body.length) {
        if (body.length - offset < 5) throw new CodecError('an item header is cut short');
        const kind = body[offset]!;
        const length = body.readUInt32BE(offset + 1);
        if (body.length - offset - 5 < length) throw new CodecError('an item is cut short');
        const bytes = body.subarray(offset + 5, offset + 5 + length);
        offset += 5 + length;
        if (kind === ITEM_ENTRY) this.entry(decodeEntry(bytes, DISK_LIMITS), segment, upTo);
        else if (kind === ITEM_HARD_STATE) this.hardState = decodeHardState(bytes);
        else if (kind === ITEM_LOG_RESET) {
          const marker = decodeEntry(bytes, DISK_LIMITS);
          this.entries = [];
          this.resetTo = marker.index;
          for (const earlier of upTo) earlier.maxIndex = 0;
        } else throw new CodecError(`unknown item kind ${kind}`);
      }
    } catch (error) {
      if (error instanceof StorageCorruptError) throw error;
      throw new StorageCorruptError(segment.file, `a record passed its checksum but does not read back: ${(error as Error).message}`);
    }
  }

  private entry(entry: Entry, segment: Segment, upTo: Segment[]): void {
    const first = this.entries[0]?.index;
    const last = first === undefined ? this.resetTo : first + this.entries.length - 1;
    if (entry.index > last + 1 && first !== undefined) throw new StorageCorruptError(segment.file, `entry ${entry.index} follows entry ${last}: entries are missing`);
    if (first !== undefined && entry.index < first) this.entries = [];
    else if (first !== undefined && entry.index <= last) this.entries.length = entry.index - first;
    if (entry.index <= last) for (const earlier of upTo) earlier.maxIndex = Math.min(earlier.maxIndex, entry.index - 1);
    this.entries.push(entry);
    segment.maxIndex = entry.index;
  }

  finish(dir: string): { entries: Entry[]; lastIndex: number } {
    const base = this.snapshot?.meta.index ?? 0;
    if (this.resetTo > base) throw new StorageCorruptError(dir, `the log restarts after a snapshot at index ${this.resetTo}, but the newest snapshot file ends at ${base}`);
    let entries = this.entries;
    const atBase = entries.find((entry) => entry.index === base);
    // Entries after a snapshot they do not lead up to belong to a log the snapshot replaced.
    if (this.snapshot && atBase && atBase.term !== this.snapshot.meta.term) entries = [];
    entries = entries.filter((entry) => entry.index > base);
    if (entries.length > 0 && entries[0]!.index !== base + 1) {
      throw new StorageCorruptError(dir, `the log starts at entry ${entries[0]!.index} but the snapshot ends at ${base}: entries are missing`);
    }
    return { entries, lastIndex: entries.at(-1)?.index ?? base };
  }
}
