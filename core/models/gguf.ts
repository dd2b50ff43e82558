// Reads a GGUF file's header: metadata key/values and tensor infos, never the weights. /api/show
// reports the metadata as model_info and /api/create derives family, size and quantization from it.

import { open, type FileHandle } from 'node:fs/promises';

export type GgufValue = number | boolean | string | GgufValue[];

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

const MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
const READ_SIZE = 1 << 20;

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

/** Sequential little-endian reads over a file, a megabyte at a time. */
class HeaderReader {
  private buffer = Buffer.alloc(0);
  private at = 0;
  /** File offset of buffer[0]. */
  private base = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  get offset(): number {
    return this.base + this.at;
  }

  private async need(bytes: number): Promise<void> {
    if (this.buffer.length - this.at >= bytes) return;
    if (this.offset + bytes > this.size) throw new GgufFormatError('unexpected end of GGUF header');
    const start = this.offset;
    const chunk = Buffer.alloc(Math.max(bytes, READ_SIZE));
    const { bytesRead } = await this.handle.read(chunk, 0, chunk.length, start);
    this.buffer = chunk.subarray(0, bytesRead);
    this.base = start;
    this.at = 0;
  }

  async skip(bytes: number): Promise<void> {
    if (this.offset + bytes > this.size) throw new GgufFormatError('unexpected end of GGUF header');
    if (this.buffer.length - this.at >= bytes) this.at += bytes;
    else {
      this.base = this.offset + bytes;
      this.buffer = Buffer.alloc(0);
      this.at = 0;
    }
  }

  async read<T>(bytes: number, read: (buffer: Buffer, at: number) => T): Promise<T> {
    await this.need(bytes);
    const value = read(this.buffer, this.at);
    this.at += bytes;
    return value;
  }

  u32(): Promise<number> {
    return this.read(4, (b, at) => b.readUInt32LE(at));
  }

  async string(lengthBytes: 4 | 8): Promise<string> {
    const length = await this.length(lengthBytes);
    await this.need(length);
    const value = this.buffer.toString('utf8', this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** A count or length, refused when it could not fit in the rest of the file. */
  async length(bytes: 4 | 8, itemSize = 1): Promise<number> {
    const value = bytes === 4 ? await this.u32() : Number(await this.read(8, (b, at) => b.readBigUInt64LE(at)));
    if (value * itemSize > this.size - this.offset) throw new GgufFormatError('GGUF header declares more data than the file holds');
    return value;
  }
}

type Scalar = { bytes: number; read: (buffer: Buffer, at: number) => number | bigint | boolean };

const SCALARS: Record<number, Scalar> = {
  0: { bytes: 1, read: (b, at) => b.readUInt8(at) },
  1: { bytes: 1, read: (b, at) => b.readInt8(at) },
  2: { bytes: 2, read: (b, at) => b.readUInt16LE(at) },
  3: { bytes: 2, read: (b, at) => b.readInt16LE(at) },
  4: { bytes: 4, read: (b, at) => b.readUInt32LE(at) },
  5: { bytes: 4, read: (b, at) => b.readInt32LE(at) },
  6: { bytes: 4, read: (b, at) => shortestFloat32(b.readFloatLE(at)) },
  7: { bytes: 1, read: (b, at) => b.readUInt8(at) !== 0 },
  10: { bytes: 8, read: (b, at) => b.readBigUInt64LE(at) },
  11: { bytes: 8, read: (b, at) => b.readBigInt64LE(at) },
  12: { bytes: 8, read: (b, at) => b.readDoubleLE(at) },
};
const STRING = 8;
const ARRAY = 9;

class GgufParser {
  constructor(
    private readonly reader: HeaderReader,
    private readonly lengthBytes: 4 | 8,
    private readonly maxArrayLength: number,
  ) {}

  async value(type: number): Promise<GgufValue> {
    if (type === STRING) return this.reader.string(this.lengthBytes);
    if (type === ARRAY) return this.array();
    const scalar = SCALARS[type];
    if (!scalar) throw new GgufFormatError(`unknown GGUF value type ${type}`);
    const value = await this.reader.read(scalar.bytes, scalar.read);
    return typeof value === 'bigint' ? Number(value) : value;
  }

  private async array(): Promise<GgufValue[]> {
    const itemType = await this.reader.u32();
    const scalar = SCALARS[itemType];
    const count = await this.reader.length(this.lengthBytes, scalar?.bytes ?? 1);
    if (count > this.maxArrayLength) {
      if (scalar) await this.reader.skip(count * scalar.bytes);
      else for (let i = 0; i < count; i++) await this.value(itemType);
      return [];
    }
    const items: GgufValue[] = [];
    for (let i = 0; i < count; i++) items.push(await this.value(itemType));
    return items;
  }
}

/** Arrays longer than `maxArrayLength` come back empty, as Ollama's show does without `verbose`. */
export async function readGguf(path: string, options: { maxArrayLength?: number } = {}): Promise<GgufFile> {
  const handle = await open(path, 'r');
  try {
    const reader = new HeaderReader(handle, (await handle.stat()).size);
    const u32 = () => reader.u32();
    if ((await u32()) !== MAGIC) throw new GgufFormatError('not a GGUF file');
    const version = await u32();
    if (version < 1 || version > 3) throw new GgufFormatError(`unsupported GGUF version ${version}`);
    const lengthBytes = version === 1 ? 4 : 8;
    const parser = new GgufParser(reader, lengthBytes, options.maxArrayLength ?? Number.POSITIVE_INFINITY);
    const tensorCount = await reader.length(lengthBytes);
    const kvCount = await reader.length(lengthBytes);
    const metadata: Record<string, GgufValue> = {};
    for (let i = 0; i < kvCount; i++) {
      const key = await reader.string(lengthBytes);
      metadata[key] = await parser.value(await u32());
    }
    const tensors: GgufTensor[] = [];
    let parameterCount = 0;
    for (let i = 0; i < tensorCount; i++) {
      const name = await reader.string(lengthBytes);
      const dimensions = await reader.length(4, lengthBytes);
      const shape: number[] = [];
      for (let d = 0; d < dimensions; d++) shape.push(await reader.length(lengthBytes, 0));
      const type = await u32();
      await reader.skip(8);
      tensors.push({ name, type: GGML_TYPES[type] ?? `type_${type}`, shape });
      parameterCount += shape.reduce((product, n) => product * n, 1);
    }
    return { metadata, tensors, parameterCount };
  } finally {
    await handle.close();
  }
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
