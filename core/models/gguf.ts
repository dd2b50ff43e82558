// Reads and checks GGUF headers (metadata and tensor infos, never the weights) for the API and the
// engines: every count, length and type is held to bounds before any other reader sees the file.

import { open, type FileHandle } from 'node:fs/promises';

export type GgufScalar = number | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[];

export interface GgufTensor {
  name: string;
  type: string;
  shape: number[];
}

export interface GgufFile {
  /** Keys in file order. */
  metadata: Record<string, GgufValue>;
  tensors: GgufTensor[];
  /** Elements across all tensors. */
  parameterCount: number;
}

export class GgufFormatError extends Error {
  override name = 'GgufFormatError';
}

/**
 * What a header may hold. Each bound sits well above the largest real model and well below what
 * hurts the readers behind this one: node-llama-cpp turns the whole header into JS values, and
 * llama.cpp compares every key, and every tensor name, with all those before it.
 */
export const GGUF_LIMITS = {
  /** Ollama's own cap (fs/gguf MaxStringLength); chat templates, the longest real strings, run to tens of KB. */
  maxStringBytes: 16 << 20,
  /**
   * Array elements in all. Vocabularies reach 262,144 tokens and BPE merges ~450,000, about a
   * million elements with scores and token types; node-llama-cpp makes each a JS value, and V8
   * ends the process (no exception) when one array passes ~2^27 elements.
   */
  maxArrayElements: 1 << 23,
  /** Real models carry 30 to 100 keys. llama.cpp's key check is quadratic: 4,096 keys cost a load 0.4 s here, 32,768 cost 12 s. */
  maxKeys: 4096,
  /** The largest real models have ~2,000 tensors (Llama 3.1 405B: 1,138); llama.cpp's name check: 8,192 cost 1 s, 65,536 cost 138 s. */
  maxTensors: 8192,
  /** Metadata plus tensor infos: real headers stay under ~20 MB, and the readers behind this one hold it all in memory. */
  maxHeaderBytes: 128 << 20,
  /** ggml's GGML_MAX_DIMS, which Ollama enforces as well. */
  maxTensorDims: 4,
} as const;

const MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
const READ_SIZE = 1 << 20;
const DEFAULT_ALIGNMENT = 32;

const GGML_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K',
  12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S',
  20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** `general.file_type` names as Ollama prints them for quantization_level. */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M',
  13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS',
  21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S',
  29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4',
};

export function fileTypeName(value: GgufValue | undefined): string {
  return typeof value === 'number' ? (FILE_TYPES[value] ?? 'unknown') : 'unknown';
}

/** The shortest decimal that reads back as the same float32, as Go's JSON encoder writes it. */
function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}

/** Where header bytes come from: a file, or an upload still arriving. */
interface ByteSource {
  /** Total bytes; Infinity while unknown. */
  readonly size: number;
  /** At least `length` bytes from `position` (fewer only at the end). Positions only move forward. */
  read(position: number, length: number): Promise<Buffer>;
}

/**
 * Sequential little-endian reads. Callers test `has(n)` and await `fill(n)` only when it fails,
 * so a header already buffered parses without a promise per value.
 */
class HeaderReader {
  private buffer: Buffer = Buffer.alloc(0);
  private at = 0;
  /** Source position of buffer[0]. */
  private base = 0;

  constructor(private readonly source: ByteSource) {}

  get offset(): number {
    return this.base + this.at;
  }

  /** The whole source's length; Infinity while unknown. */
  get size(): number {
    return this.source.size;
  }

  /** Bytes after the current offset; Infinity while the size is unknown. */
  get remaining(): number {
    return this.source.size - this.offset;
  }

  has(bytes: number): boolean {
    return this.buffer.length - this.at >= bytes;
  }

  private checkEnd(end: number): void {
    if (end > GGUF_LIMITS.maxHeaderBytes) throw new GgufFormatError(`GGUF header is larger than ${GGUF_LIMITS.maxHeaderBytes} bytes`);
    if (end > this.source.size) throw new GgufFormatError('unexpected end of GGUF header');
  }

  async fill(bytes: number): Promise<void> {
    this.checkEnd(this.offset + bytes);
    const kept = this.buffer.subarray(this.at);
    const more = await this.source.read(this.base + this.buffer.length, bytes - kept.length);
    this.base = this.offset;
    this.buffer = kept.length > 0 ? Buffer.concat([kept, more]) : more;
    this.at = 0;
    if (this.buffer.length < bytes) throw new GgufFormatError('unexpected end of GGUF header');
  }

  /** Moves past `bytes`; ones not yet buffered are never read. */
  skip(bytes: number): void {
    if (this.has(bytes)) {
      this.at += bytes;
      return;
    }
    this.checkEnd(this.offset + bytes);
    this.base = this.offset + bytes;
    this.buffer = Buffer.alloc(0);
    this.at = 0;
  }

  take<T>(bytes: number, read: (buffer: Buffer, at: number) => T): T {
    const value = read(this.buffer, this.at);
    this.at += bytes;
    return value;
  }

  text(bytes: number): string {
    const value = this.buffer.toString('utf8', this.at, this.at + bytes);
    this.at += bytes;
    return value;
  }

  peekU32(): number {
    return this.buffer.readUInt32LE(this.at);
  }
}

type Scalar = { bytes: number; read: (buffer: Buffer, at: number) => number | boolean };

const SCALARS: Record<number, Scalar> = {
  0: { bytes: 1, read: (b, at) => b.readUInt8(at) },
  1: { bytes: 1, read: (b, at) => b.readInt8(at) },
  2: { bytes: 2, read: (b, at) => b.readUInt16LE(at) },
  3: { bytes: 2, read: (b, at) => b.readInt16LE(at) },
  4: { bytes: 4, read: (b, at) => b.readUInt32LE(at) },
  5: { bytes: 4, read: (b, at) => b.readInt32LE(at) },
  6: { bytes: 4, read: (b, at) => shortestFloat32(b.readFloatLE(at)) },
  7: { bytes: 1, read: (b, at) => b.readUInt8(at) !== 0 },
  10: { bytes: 8, read: (b, at) => Number(b.readBigUInt64LE(at)) },
  11: { bytes: 8, read: (b, at) => Number(b.readBigInt64LE(at)) },
  12: { bytes: 8, read: (b, at) => b.readDoubleLE(at) },
};
const UINT32 = 4;
const STRING = 8;
const ARRAY = 9;

const u32 = (b: Buffer, at: number) => b.readUInt32LE(at);
const u64 = (b: Buffer, at: number) => Number(b.readBigUInt64LE(at));

/** A name as error messages quote it: JSON-quoted, cut short when long. */
function quoted(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

class HeaderParser {
  private elements = 0;
  /** Bytes of a count or string length (GGUF v2 and v3). */
  readonly lengthBytes = 8;

  constructor(
    private readonly r: HeaderReader,
    /** Arrays longer than this are checked but come back empty. */
    private readonly keepArrays: number,
  ) {}

  async u32(): Promise<number> {
    if (!this.r.has(4)) await this.r.fill(4);
    return this.r.take(4, u32);
  }

  async u64(): Promise<number> {
    if (!this.r.has(8)) await this.r.fill(8);
    return this.r.take(8, u64);
  }

  async length(): Promise<number> {
    return this.u64();
  }

  /** A string's length field, already buffered. */
  private stringLength(): number {
    const length = this.r.take(this.lengthBytes, u64);
    if (length > GGUF_LIMITS.maxStringBytes) throw new GgufFormatError(`string length ${length} exceeds maximum ${GGUF_LIMITS.maxStringBytes}`);
    return length;
  }

  async string(): Promise<string> {
    if (!this.r.has(this.lengthBytes)) await this.r.fill(this.lengthBytes);
    const length = this.stringLength();
    if (!this.r.has(length)) await this.r.fill(length);
    return this.r.text(length);
  }

  /** `visit` sees every string of an array, kept or not. */
  async value(type: number, visit?: (text: string) => void): Promise<GgufValue> {
    if (type === ARRAY) return this.array(visit);
    if (type === STRING) return this.string();
    const scalar = SCALARS[type];
    if (!scalar) throw new GgufFormatError(`invalid type ${type}`);
    if (!this.r.has(scalar.bytes)) await this.r.fill(scalar.bytes);
    return this.r.take(scalar.bytes, scalar.read);
  }

  private async array(visit?: (text: string) => void): Promise<GgufScalar[]> {
    const itemType = await this.u32();
    // Neither llama.cpp nor Ollama reads arrays of arrays, and nesting is what exhausts a recursive reader's stack.
    if (itemType === ARRAY) throw new GgufFormatError('nested arrays are not supported');
    const scalar = SCALARS[itemType];
    if (!scalar && itemType !== STRING) throw new GgufFormatError(`invalid array type ${itemType}`);
    const count = await this.length();
    const max = GGUF_LIMITS.maxArrayElements;
    if (count > max) throw new GgufFormatError(`array size ${count} exceeds maximum ${max}`);
    this.elements += count;
    if (this.elements > max) throw new GgufFormatError(`arrays hold more than ${max} elements in all`);
    // Each string needs at least its length field.
    if (count * (scalar?.bytes ?? this.lengthBytes) > this.r.remaining) throw new GgufFormatError('GGUF header declares more data than the file holds');
    const keep = count <= this.keepArrays;
    if (scalar && !keep) {
      this.r.skip(count * scalar.bytes);
      return [];
    }
    const items: GgufScalar[] = [];
    const size = scalar?.bytes ?? this.lengthBytes;
    for (let i = 0; i < count; i++) {
      if (!this.r.has(size)) await this.r.fill(size);
      if (scalar) {
        items.push(this.r.take(size, scalar.read));
        continue;
      }
      const length = this.stringLength();
      if (!keep && !visit) this.r.skip(length);
      else {
        if (!this.r.has(length)) await this.r.fill(length);
        const text = this.r.text(length);
        visit?.(text);
        if (keep) items.push(text);
      }
    }
    return items;
  }
}

/** Refuses a declared count over `max`, or one whose items, each at least `minBytes`, could not fit in the file. */
function checkCount(r: HeaderReader, count: number, max: number, what: string, minBytes: number): void {
  if (count > max) throw new GgufFormatError(`GGUF header declares ${count} ${what}, more than the ${max} allowed`);
  if (count * minBytes > r.remaining) throw new GgufFormatError('GGUF header declares more data than the file holds');
}

/** llama.cpp reads key and tensor names as C strings: past a NUL they are other names, or empty ones it asserts on. */
const CONTROL = /[\u0000-\u001f]/;
const TOKENS_KEY = 'tokenizer.ggml.tokens';

/**
 * A SentencePiece vocabulary spells text it has no token for as byte tokens `<0xHH>` (or the byte
 * itself); llama.cpp's tokenizer looks them up unchecked and the process aborts on one missing.
 */
class ByteTokens {
  private readonly present = new Set<number>();

  readonly see = (text: string): void => {
    const byte = /^<0x([0-9A-F]{2})>$/.exec(text);
    if (byte) this.present.add(parseInt(byte[1]!, 16));
    else if (text.length === 1 && text.charCodeAt(0) < 0x80) this.present.add(text.charCodeAt(0));
  };

  firstMissing(): string | undefined {
    for (let byte = 0; byte < 256; byte++) {
      if (!this.present.has(byte)) return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
    }
    return undefined;
  }
}

/** An error from inside one key or tensor, prefixed with which. */
function inContext(label: string, error: unknown): unknown {
  return error instanceof GgufFormatError ? new GgufFormatError(`${label}: ${error.message}`) : error;
}

async function readMetadata(parser: HeaderParser, count: number): Promise<{ metadata: Record<string, GgufValue>; alignment: number }> {
  // No prototype: a key named "__proto__" is a key like any other.
  const metadata = Object.create(null) as Record<string, GgufValue>;
  const seen = new Set<string>();
  const byteTokens = new ByteTokens();
  let alignment = DEFAULT_ALIGNMENT;
  for (let i = 0; i < count; i++) {
    let label = `GGUF key ${i}`;
    try {
      const key = await parser.string();
      if (key === '') throw new GgufFormatError('empty name');
      label = `GGUF key ${quoted(key)}`;
      if (CONTROL.test(key)) throw new GgufFormatError('control characters in the name');
      if (seen.has(key)) throw new GgufFormatError('duplicate key');
      seen.add(key);
      const type = await parser.u32();
      const value = (metadata[key] = await parser.value(type, key === TOKENS_KEY ? byteTokens.see : undefined));
      if (key === 'general.alignment') {
        // llama.cpp refuses any other type, and every tensor's data offset depends on it.
        if (type !== UINT32 || typeof value !== 'number' || value === 0 || (value & (value - 1)) !== 0) {
          throw new GgufFormatError('must be a uint32 power of two');
        }
        alignment = value;
      }
    } catch (error) {
      throw inContext(label, error);
    }
  }
  const missing = metadata['tokenizer.ggml.model'] === 'llama' ? byteTokens.firstMissing() : undefined;
  if (missing) throw new GgufFormatError(`GGUF key ${quoted(TOKENS_KEY)}: the vocabulary lacks the byte token ${missing}, which llama.cpp aborts without`);
  return { metadata, alignment };
}

async function readTensors(parser: HeaderParser, r: HeaderReader, count: number, alignment: number): Promise<{ tensors: GgufTensor[]; parameterCount: number }> {
  const tensors: GgufTensor[] = [];
  const offsets: number[] = [];
  const names = new Set<string>();
  let parameterCount = 0;
  for (let i = 0; i < count; i++) {
    let label = `GGUF tensor ${i}`;
    try {
      const name = await parser.string();
      label = `GGUF tensor ${quoted(name)}`;
      if (CONTROL.test(name)) throw new GgufFormatError('control characters in the name');
      if (names.has(name)) throw new GgufFormatError('duplicate name');
      names.add(name);
      const dimensions = await parser.u32();
      const maxDims = GGUF_LIMITS.maxTensorDims;
      if (dimensions > maxDims) throw new GgufFormatError(`${dimensions} dimensions, more than ${maxDims}`);
      const shape: number[] = [];
      for (let d = 0; d < dimensions; d++) shape.push(await parser.length());
      const elements = shape.reduce((product, n) => product * n, 1);
      if (!Number.isSafeInteger(elements)) throw new GgufFormatError('too many elements');
      const type = await parser.u32();
      offsets.push(await parser.u64());
      tensors.push({ name, type: GGML_TYPES[type] ?? `type_${type}`, shape });
      parameterCount += elements;
    } catch (error) {
      throw inContext(label, error);
    }
  }
  const dataStart = Math.ceil(r.offset / alignment) * alignment;
  const beyond = offsets.findIndex((offset) => dataStart + offset > r.size);
  if (beyond >= 0) throw new GgufFormatError(`GGUF tensor ${quoted(tensors[beyond]!.name)}: data lies beyond the end of the file`);
  return { tensors, parameterCount };
}

async function readHeader(r: HeaderReader, keepArrays: number): Promise<GgufFile> {
  if (!r.has(8)) await r.fill(8);
  if (r.take(4, u32) !== MAGIC) throw new GgufFormatError('not a GGUF file');
  const version = r.take(4, u32);
  // Version 1 (32-bit lengths) is one llama.cpp no longer loads.
  if (version < 2 || version > 3) throw new GgufFormatError(`unsupported GGUF version ${version}`);
  const parser = new HeaderParser(r, keepArrays);
  const tensorCount = await parser.length();
  const keyCount = await parser.length();
  // A tensor info is at least a name length, a dimension count, a type and an offset; a key/value a key length, a type and one byte.
  checkCount(r, tensorCount, GGUF_LIMITS.maxTensors, 'tensors', parser.lengthBytes + 4 + 4 + 8);
  checkCount(r, keyCount, GGUF_LIMITS.maxKeys, 'metadata keys', parser.lengthBytes + 4 + 1);
  const { metadata, alignment } = await readMetadata(parser, keyCount);
  return { metadata, ...(await readTensors(parser, r, tensorCount, alignment)) };
}

function fileSource(handle: FileHandle, size: number): ByteSource {
  return {
    size,
    async read(position, length) {
      const chunk = Buffer.alloc(Math.min(Math.max(length, READ_SIZE), Math.max(size - position, 0)));
      let filled = 0;
      while (filled < chunk.length) {
        const { bytesRead } = await handle.read(chunk, filled, chunk.length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return chunk.subarray(0, filled);
    },
  };
}

/** The header of a GGUF file, checked. Arrays longer than `maxArrayLength` come back empty, as Ollama's show does without `verbose`. */
export async function readGguf(path: string, options: { maxArrayLength?: number } = {}): Promise<GgufFile> {
  const handle = await open(path, 'r');
  try {
    const reader = new HeaderReader(fileSource(handle, (await handle.stat()).size));
    return await readHeader(reader, options.maxArrayLength ?? Number.POSITIVE_INFINITY);
  } finally {
    await handle.close();
  }
}

/** Throws a GgufFormatError naming the first problem in the file's header; for code about to hand the file to another reader. */
export async function checkGguf(path: string): Promise<void> {
  await readGguf(path, { maxArrayLength: 0 });
}

/** True when the file starts with the GGUF magic. */
export async function hasGgufMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head.readUInt32LE(0) === MAGIC;
  } finally {
    await handle.close();
  }
}

/** Bytes the uploader may run ahead of the header check before it waits. */
const UPLOAD_AHEAD = 8 << 20;

/** Upload chunks as a ByteSource: holds what the reader has yet to take, and drops what it skips. */
class ChunkQueue implements ByteSource {
  private chunks: Buffer[] = [];
  private queued = 0;
  /** Source position of the first queued byte. */
  private start = 0;
  /** Bytes from `start` the waiting reader needs; 0 when it is not waiting. */
  private wanted = 0;
  private ended = false;
  private closed = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(readonly size: number) {}

  async push(chunk: Buffer): Promise<void> {
    if (this.closed) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.wakeReader?.();
    while (!this.closed && this.queued >= UPLOAD_AHEAD && this.queued >= this.wanted) {
      await new Promise<void>((resolve) => (this.wakeWriter = resolve));
    }
  }

  end(): void {
    this.ended = true;
    this.wakeReader?.();
  }

  /** The reader is done: everything from now on passes unqueued. */
  close(): void {
    this.closed = true;
    this.chunks = [];
    this.queued = 0;
    this.wakeWriter?.();
  }

  async read(position: number, length: number): Promise<Buffer> {
    for (;;) {
      this.drop(position - this.start);
      if (this.start === position && (this.queued >= length || this.ended)) break;
      if (this.ended) return Buffer.alloc(0);
      this.wanted = position + length - this.start;
      this.wakeWriter?.();
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
      this.wanted = 0;
    }
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.start += this.queued;
    this.chunks = [];
    this.queued = 0;
    this.wakeWriter?.();
    return out;
  }

  private drop(bytes: number): void {
    while (bytes > 0 && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const taken = Math.min(bytes, first.length);
      if (taken === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(taken);
      this.queued -= taken;
      this.start += taken;
      bytes -= taken;
    }
  }
}

/**
 * Checks the header of a file that arrives in chunks, as an upload does; the bytes past the header
 * pass unread. A file that does not start with the GGUF magic is not GGUF and is not checked.
 */
export class GgufStreamCheck {
  private readonly queue: ChunkQueue;
  private failure: unknown;
  private readonly checked: Promise<void>;

  /** `size` is the whole file's length when known (an upload's Content-Length). */
  constructor(size = Number.POSITIVE_INFINITY) {
    this.queue = new ChunkQueue(size);
    // Kept, never thrown here: only a caller that pushes or ends learns of it.
    this.checked = this.run().catch((error: unknown) => void (this.failure = error));
  }

  /** Hands over the next chunk; throws as soon as the header is known to be bad, so the upload can stop. */
  async push(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    await this.queue.push(chunk);
  }

  /** After the last chunk: resolves when the header is good (or the file is not GGUF). */
  async end(): Promise<void> {
    this.queue.end();
    await this.checked;
    if (this.failure) throw this.failure;
  }

  private async run(): Promise<void> {
    const reader = new HeaderReader(this.queue);
    try {
      try {
        await reader.fill(4);
      } catch {
        return; // shorter than a magic number: not GGUF
      }
      if (reader.peekU32() !== MAGIC) return;
      await readHeader(reader, 0);
    } finally {
      this.queue.close();
    }
  }
}
