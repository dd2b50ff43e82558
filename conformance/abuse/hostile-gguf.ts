// GGUF files built to hurt a reader: the tiny model with hostile metadata spliced into its header
// (a huge array, millions of keys, deep nesting) and byte mutations of its header, for the abuse suite.

import { createHash } from 'node:crypto';
import { tinyGgufBytes } from '../fixtures/tiny-gguf.js';

/** A file served as chunks, so a 150 MB upload never sits in memory whole. */
export interface GgufBody {
  name: string;
  size: number;
  digest: string;
  chunks(): Iterable<Uint8Array>;
}

const ALIGNMENT = 32;
const HEADER_FIXED = 24; // magic, version, tensor count (u64), metadata count (u64)
const KV_COUNT_AT = 16;
const CHUNK = 1 << 20;

const Type = { UINT8: 0, STRING: 8, ARRAY: 9 } as const;
/** Bytes of each fixed-size GGUF value type, by type id. */
const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

const u32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
};
const u64 = (value: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
};
const str = (value: string) => {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([u64(bytes.length), bytes]);
};

/** Where the parts of a well-formed GGUF lie; walks only files this suite made itself. */
export interface GgufLayout {
  kvCount: number;
  /** End of the tensor infos: the header's last byte + 1, before the alignment padding. */
  headerEnd: number;
  dataStart: number;
}

export function ggufLayout(file: Buffer): GgufLayout {
  let at = HEADER_FIXED;
  const tensorCount = Number(file.readBigUInt64LE(8));
  const kvCount = Number(file.readBigUInt64LE(KV_COUNT_AT));
  const skipString = () => (at += 8 + Number(file.readBigUInt64LE(at)));
  const skipValue = (type: number): void => {
    if (type === Type.STRING) return void skipString();
    if (type !== Type.ARRAY) return void (at += SCALAR_SIZE[type]!);
    const itemType = file.readUInt32LE(at);
    const count = Number(file.readBigUInt64LE(at + 4));
    at += 12;
    for (let i = 0; i < count; i++) skipValue(itemType);
  };
  for (let i = 0; i < kvCount; i++) {
    skipString();
    const type = file.readUInt32LE(at);
    at += 4;
    skipValue(type);
  }
  for (let i = 0; i < tensorCount; i++) {
    skipString();
    const dims = file.readUInt32LE(at);
    at += 4 + dims * 8 + 4 + 8;
  }
  return { kvCount, headerEnd: at, dataStart: Math.ceil(at / ALIGNMENT) * ALIGNMENT };
}

function bodyOf(name: string, chunks: () => Iterable<Uint8Array>): GgufBody {
  const hash = createHash('sha256');
  let size = 0;
  for (const chunk of chunks()) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { name, size, digest: `sha256:${hash.digest('hex')}`, chunks };
}

/**
 * The tiny model with `count` more metadata entries, the bytes of `entries`, ahead of its own; the
 * tensor data is re-aligned, so the file is well-formed apart from what the entries do.
 */
function withMetadata(name: string, count: number, entries: readonly Uint8Array[]): GgufBody {
  const tiny = tinyGgufBytes();
  const layout = ggufLayout(tiny);
  const head = Buffer.from(tiny.subarray(0, HEADER_FIXED));
  head.writeBigUInt64LE(BigInt(layout.kvCount + count), KV_COUNT_AT);
  const end = layout.headerEnd + entries.reduce((sum, entry) => sum + entry.length, 0);
  const padding = Buffer.alloc((ALIGNMENT - (end % ALIGNMENT)) % ALIGNMENT);
  const parts = [head, ...entries, tiny.subarray(HEADER_FIXED, layout.headerEnd), padding, tiny.subarray(layout.dataStart)];
  return bodyOf(name, () => parts);
}

/** One uint8 array of `entries` elements, all present in the file (150 MB at the default 150M). */
export function hugeArrayGguf(entries = 150_000_000): GgufBody {
  const zeros = Buffer.alloc(CHUNK);
  const parts: Uint8Array[] = [Buffer.concat([str('abuse.huge_array'), u32(Type.ARRAY), u32(Type.UINT8), u64(entries)])];
  for (let left = entries; left > 0; left -= CHUNK) parts.push(left >= CHUNK ? zeros : zeros.subarray(0, left));
  return withMetadata(`a ${entries.toLocaleString('en')}-entry array`, 1, parts);
}

/** `keys` distinct uint8 metadata entries, `abuse.k0000000` on (54 MB at the default 2M). */
export function manyKeysGguf(keys = 2_000_000): GgufBody {
  const key = (n: number) => `abuse.k${String(n).padStart(7, '0')}`;
  const entrySize = 8 + key(0).length + 4 + 1;
  const entries = Buffer.alloc(keys * entrySize);
  for (let n = 0, at = 0; n < keys; n++, at += entrySize) {
    entries.writeUInt32LE(key(0).length, at); // the u64 length's high half stays 0
    entries.write(key(n), at + 8, 'latin1');
    entries.writeUInt32LE(Type.UINT8, at + 8 + key(0).length); // then the value, 0
  }
  return withMetadata(`${keys.toLocaleString('en')} metadata keys`, keys, [entries]);
}

/** An array of an array of ... `depth` levels down, ending in an empty uint8 array. */
export function nestedArraysGguf(depth = 100_000): GgufBody {
  const level = Buffer.concat([u32(Type.ARRAY), u64(1)]);
  const parts = [Buffer.concat([str('abuse.nested'), u32(Type.ARRAY)]), Buffer.concat(Array<Buffer>(depth).fill(level)), Buffer.concat([u32(Type.UINT8), u64(0)])];
  return withMetadata(`arrays nested ${depth.toLocaleString('en')} deep`, 1, parts);
}

/** One change to a header: a byte set, or a little-endian u64 written over eight bytes. */
export type HeaderEdit = { at: number; byte: number } | { at: number; u64: bigint };

/** The tiny model with `edits` applied to its header bytes (the tensor data is left alone). */
export function mutatedGguf(tiny: Buffer, edits: readonly HeaderEdit[]): GgufBody {
  const file = Buffer.from(tiny);
  const { headerEnd } = ggufLayout(tiny);
  for (const edit of edits) {
    if ('byte' in edit) file[edit.at % headerEnd] = edit.byte;
    else file.writeBigUInt64LE(edit.u64, Math.min(edit.at % headerEnd, headerEnd - 8));
  }
  return bodyOf(`the tiny model with ${edits.length} header edits`, () => [file]);
}

/** The tiny model as it is, with a seed of its own so its digest is new to the server. */
export function tinyGgufBody(seed: number, options: { contextLength?: number } = {}): GgufBody {
  const file = tinyGgufBytes({ seed, ...options });
  return bodyOf('the tiny model', () => [file]);
}
