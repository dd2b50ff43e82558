// The Raft core's messages, entries and snapshots as compact bytes, for the wire and the disk.
// Decoding takes bytes from a peer: every field is checked and anything wrong throws a CodecError.

import { MESSAGE_TYPES, type ConfMember, type Entry, type EntryType, type HardState, type Message, type Snapshot } from '../core/types.js';

/** Bytes a peer or the disk sent that are not a valid encoding; the message names the field. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code = 'OD_ERR_RAFT_CODEC';
}

export interface CodecLimits {
  /** Whole encoding; a snapshot is the largest thing that travels. */
  maxBytes: number;
  /** Node ids and a message's context. */
  maxIdBytes: number;
  maxAddressBytes: number;
  maxContextBytes: number;
  maxEntries: number;
  maxMembers: number;
}

export const DEFAULT_LIMITS: CodecLimits = {
  maxBytes: 64 * 1024 * 1024,
  maxIdBytes: 256,
  maxAddressBytes: 1024,
  maxContextBytes: 4096,
  maxEntries: 65_536,
  maxMembers: 1024,
};

/** Bumped on any change to the layout below; a decoder refuses versions it does not know. */
const VERSION = 1;

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'config'];

// Presence bits of a message's optional fields, in the order they are written.
const HAS_INDEX = 1 << 0;
const HAS_LOG_TERM = 1 << 1;
const HAS_COMMIT = 1 << 2;
const HAS_ENTRIES = 1 << 3;
const HAS_REJECT = 1 << 4;
const REJECT_TRUE = 1 << 5;
const HAS_REJECT_HINT = 1 << 6;
const HAS_SNAPSHOT = 1 << 7;
const HAS_CONTEXT = 1 << 8;
const KNOWN_FLAGS = (1 << 9) - 1;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, value);
    this.length += 2;
  }

  /** LEB128 of a non-negative safe integer: Raft's terms and indexes are small most of the time. */
  varint(value: number, field: string): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new CodecError(`${field} must be a non-negative safe integer, got ${value}`);
    this.reserve(8);
    while (value >= 0x80) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  bytes(value: Uint8Array, field: string): void {
    if (!(value instanceof Uint8Array)) throw new CodecError(`${field} must be a Uint8Array`);
    this.varint(value.length, `${field} length`);
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  string(value: string, field: string, max: number): void {
    if (typeof value !== 'string') throw new CodecError(`${field} must be a string`);
    const encoded = utf8.encode(value);
    if (encoded.length > max) throw new CodecError(`${field} is ${encoded.length} bytes, more than ${max}`);
    this.bytes(encoded, field);
  }

  finish(limits: CodecLimits, what: string): Uint8Array {
    if (this.length > limits.maxBytes) throw new CodecError(`${what} encodes to ${this.length} bytes, more than ${limits.maxBytes}`);
    return this.buffer.subarray(0, this.length);
  }
}

class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    readonly limits: CodecLimits,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(problem: string): never {
    throw new CodecError(`bad ${this.what} at byte ${this.offset}: ${problem}`);
  }

  private need(count: number, field: string): void {
    if (this.bytes.length - this.offset < count) this.fail(`${field} is cut short (${count} bytes needed, ${this.bytes.length - this.offset} left)`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }

  varint(field: string): number {
    let value = 0;
    let scale = 1;
    for (let shift = 0; ; shift += 7) {
      if (shift > 49) this.fail(`${field} is longer than a safe integer`);
      const byte = this.u8(field);
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && shift > 0) this.fail(`${field} is not in its shortest form`);
        break;
      }
    }
    if (!Number.isSafeInteger(value)) this.fail(`${field} is ${value}, beyond a safe integer`);
    return value;
  }

  /** A fresh copy, so a decoded entry never pins the frame it came in. */
  bytesField(field: string, max = this.limits.maxBytes): Uint8Array {
    const length = this.varint(`${field} length`);
    if (length > max) this.fail(`${field} is ${length} bytes, more than ${max}`);
    this.need(length, field);
    const copy = new Uint8Array(length);
    copy.set(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return copy;
  }

  string(field: string, max: number): string {
    const raw = this.bytesField(field, max);
    try {
      return strictUtf8.decode(raw);
    } catch {
      return this.fail(`${field} is not valid UTF-8`);
    }
  }

  count(field: string, max: number, minBytesEach: number): number {
    const count = this.varint(field);
    if (count > max) this.fail(`${field} is ${count}, more than ${max}`);
    if (count * minBytesEach > this.bytes.length - this.offset) this.fail(`${field} is ${count}, more than the bytes left can hold`);
    return count;
  }

  oneOf<T>(values: readonly T[], field: string): T {
    const code = this.u8(field);
    const value = values[code];
    if (value === undefined) this.fail(`${field} has unknown code ${code}`);
    return value;
  }

  done(): void {
    if (this.offset !== this.bytes.length) this.fail(`${this.bytes.length - this.offset} bytes left over after the end`);
  }
}

function start(bytes: Uint8Array, limits: CodecLimits, what: string): Reader {
  if (!(bytes instanceof Uint8Array)) throw new CodecError(`${what} must be bytes`);
  if (bytes.length > limits.maxBytes) throw new CodecError(`${what} is ${bytes.length} bytes, more than ${limits.maxBytes}`);
  const reader = new Reader(bytes, limits, what);
  const version = reader.u8('version');
  if (version !== VERSION) throw new CodecError(`${what} has encoding version ${version}; this node reads version ${VERSION}`);
  return reader;
}

function writeEntry(w: Writer, entry: Entry, field: string): void {
  w.varint(entry.index, `${field}.index`);
  w.varint(entry.term, `${field}.term`);
  const type = ENTRY_TYPES.indexOf(entry.type);
  if (type < 0) throw new CodecError(`${field}.type must be one of ${ENTRY_TYPES.join(', ')}`);
  w.u8(type);
  w.bytes(entry.data, `${field}.data`);
}

function readEntry(r: Reader, field: string): Entry {
  const index = r.varint(`${field}.index`);
  const term = r.varint(`${field}.term`);
  const type = r.oneOf(ENTRY_TYPES, `${field}.type`);
  const data = r.bytesField(`${field}.data`);
  return { index, term, type, data };
}

function writeSnapshot(w: Writer, snapshot: Snapshot, limits: CodecLimits, field: string): void {
  w.varint(snapshot.meta.index, `${field}.meta.index`);
  w.varint(snapshot.meta.term, `${field}.meta.term`);
  const members = snapshot.meta.conf.members;
  if (!Array.isArray(members) || members.length > limits.maxMembers) throw new CodecError(`${field}.meta.conf.members must be an array of at most ${limits.maxMembers}`);
  w.varint(members.length, `${field}.meta.conf.members length`);
  members.forEach((member, i) => {
    w.string(member.id, `${field}.meta.conf.members[${i}].id`, limits.maxIdBytes);
    w.string(member.address, `${field}.meta.conf.members[${i}].address`, limits.maxAddressBytes);
    w.u8(member.voter ? 1 : 0);
  });
  w.bytes(snapshot.data, `${field}.data`);
}

function readSnapshot(r: Reader, field: string): Snapshot {
  const index = r.varint(`${field}.meta.index`);
  const term = r.varint(`${field}.meta.term`);
  const count = r.count(`${field}.meta.conf.members length`, r.limits.maxMembers, 3);
  const members: ConfMember[] = [];
  for (let i = 0; i < count; i++) {
    const id = r.string(`${field}.meta.conf.members[${i}].id`, r.limits.maxIdBytes);
    const address = r.string(`${field}.meta.conf.members[${i}].address`, r.limits.maxAddressBytes);
    const voter = r.u8(`${field}.meta.conf.members[${i}].voter`);
    if (voter > 1) throw new CodecError(`bad ${field}: members[${i}].voter must be 0 or 1, got ${voter}`);
    members.push({ id, address, voter: voter === 1 });
  }
  const data = r.bytesField(`${field}.data`);
  return { meta: { index, term, conf: { members } }, data };
}

export function encodeMessage(message: Message, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  const type = MESSAGE_TYPES.indexOf(message.type);
  if (type < 0) throw new CodecError(`message.type must be one of ${MESSAGE_TYPES.join(', ')}, got ${String(message.type)}`);
  w.u8(type);
  w.string(message.from, 'message.from', limits.maxIdBytes);
  w.string(message.to, 'message.to', limits.maxIdBytes);
  w.varint(message.term, 'message.term');
  let flags = 0;
  if (message.index !== undefined) flags |= HAS_INDEX;
  if (message.logTerm !== undefined) flags |= HAS_LOG_TERM;
  if (message.commit !== undefined) flags |= HAS_COMMIT;
  if (message.entries !== undefined) flags |= HAS_ENTRIES;
  if (message.reject !== undefined) flags |= HAS_REJECT | (message.reject ? REJECT_TRUE : 0);
  if (message.rejectHint !== undefined) flags |= HAS_REJECT_HINT;
  if (message.snapshot !== undefined) flags |= HAS_SNAPSHOT;
  if (message.context !== undefined) flags |= HAS_CONTEXT;
  w.u16(flags);
  if (message.index !== undefined) w.varint(message.index, 'message.index');
  if (message.logTerm !== undefined) w.varint(message.logTerm, 'message.logTerm');
  if (message.commit !== undefined) w.varint(message.commit, 'message.commit');
  if (message.entries !== undefined) {
    if (!Array.isArray(message.entries) || message.entries.length > limits.maxEntries) throw new CodecError(`message.entries must be an array of at most ${limits.maxEntries}`);
    w.varint(message.entries.length, 'message.entries length');
    message.entries.forEach((entry, i) => writeEntry(w, entry, `message.entries[${i}]`));
  }
  if (message.rejectHint !== undefined) w.varint(message.rejectHint, 'message.rejectHint');
  if (message.snapshot !== undefined) writeSnapshot(w, message.snapshot, limits, 'message.snapshot');
  if (message.context !== undefined) w.string(message.context, 'message.context', limits.maxContextBytes);
  return w.finish(limits, 'message');
}

export function decodeMessage(bytes: Uint8Array, limits: CodecLimits = DEFAULT_LIMITS): Message {
  const r = start(bytes, limits, 'message');
  const type = r.oneOf(MESSAGE_TYPES, 'type');
  const from = r.string('from', limits.maxIdBytes);
  const to = r.string('to', limits.maxIdBytes);
  const term = r.varint('term');
  const flags = r.u16('flags');
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & REJECT_TRUE && !(flags & HAS_REJECT))) {
    throw new CodecError(`bad message: flags 0x${flags.toString(16)} set unknown or inconsistent bits`);
  }
  const message: Message = { type, from, to, term };
  if (flags & HAS_INDEX) message.index = r.varint('index');
  if (flags & HAS_LOG_TERM) message.logTerm = r.varint('logTerm');
  if (flags & HAS_COMMIT) message.commit = r.varint('commit');
  if (flags & HAS_ENTRIES) {
    const count = r.count('entries length', limits.maxEntries, 4);
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) entries.push(readEntry(r, `entries[${i}]`));
    message.entries = entries;
  }
  if (flags & HAS_REJECT) message.reject = (flags & REJECT_TRUE) !== 0;
  if (flags & HAS_REJECT_HINT) message.rejectHint = r.varint('rejectHint');
  if (flags & HAS_SNAPSHOT) message.snapshot = readSnapshot(r, 'snapshot');
  if (flags & HAS_CONTEXT) message.context = r.string('context', limits.maxContextBytes);
  r.done();
  return message;
}

export function encodeEntry(entry: Entry, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  writeEntry(w, entry, 'entry');
  return w.finish(limits, 'entry');
}

export function decodeEntry(bytes: Uint8Array, limits: CodecLimits = DEFAULT_LIMITS): Entry {
  const r = start(bytes, limits, 'entry');
  const entry = readEntry(r, 'entry');
  r.done();
  return entry;
}

export function encodeSnapshot(snapshot: Snapshot, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  writeSnapshot(w, snapshot, limits, 'snapshot');
  return w.finish(limits, 'snapshot');
}

export function decodeSnapshot(bytes: Uint8Array, limits: CodecLimits = DEFAULT_LIMITS): Snapshot {
  const r = start(bytes, limits, 'snapshot');
  const snapshot = readSnapshot(r, 'snapshot');
  r.done();
  return snapshot;
}

export function encodeHardState(state: HardState, limits: CodecLimits = DEFAULT_LIMITS): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  w.varint(state.term, 'hardState.term');
  w.u8(state.vote === null ? 0 : 1);
  if (state.vote !== null) w.string(state.vote, 'hardState.vote', limits.maxIdBytes);
  w.varint(state.commit, 'hardState.commit');
  return w.finish(limits, 'hard state');
}

export function decodeHardState(bytes: Uint8Array, limits: CodecLimits = DEFAULT_LIMITS): HardState {
  const r = start(bytes, limits, 'hard state');
  const term = r.varint('term');
  const voted = r.u8('vote flag');
  if (voted > 1) throw new CodecError(`bad hard state: vote flag must be 0 or 1, got ${voted}`);
  const vote = voted === 1 ? r.string('vote', limits.maxIdBytes) : null;
  const commit = r.varint('commit');
  r.done();
  return { term, vote, commit };
}
