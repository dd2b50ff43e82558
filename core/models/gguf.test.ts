// The GGUF reader: what it reads from the tiny model, that it admits headers the size of real
// models', and that every hostile header is refused with the problem named, from a file or a stream.

import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ggufHeaderBytes, GgufWriter, tinyGgufBytes, ValueType, writeTinyGguf, type GgufHeader, type MetadataValue } from '../../conformance/fixtures/tiny-gguf.js';
import { checkGguf, fileTypeName, GGUF_LIMITS, GgufFormatError, GgufStreamCheck, hasGgufMagic, readGguf } from './gguf.js';

const dir = await mkdtemp(join(tmpdir(), 'od-gguf-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

let files = 0;
async function fileOf(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `${files++}.gguf`);
  await writeFile(path, bytes);
  return path;
}

const text = (value: string): MetadataValue => ({ type: ValueType.STRING, value });
const u8 = (value: number): MetadataValue => ({ type: ValueType.UINT8, value });
const u32 = (value: number): MetadataValue => ({ type: ValueType.UINT32, value });
const arrayOf = (itemType: number, value: (string | number)[], count?: number): MetadataValue => ({
  type: ValueType.ARRAY,
  itemType,
  value,
  ...(count !== undefined ? { count } : {}),
});
const header = (metadata: GgufHeader['metadata'], extra: Partial<GgufHeader> = {}) => ggufHeaderBytes({ metadata, ...extra });
const manyKeys = (n: number) => Array.from({ length: n }, (_, i): [string, MetadataValue] => [`x.key.${i}`, u8(1)]);

/** Runs a file through the stream check in chunks of `size` bytes, as an upload would arrive. */
async function streamed(bytes: Uint8Array, size: number, declared = bytes.length): Promise<void> {
  const check = new GgufStreamCheck(declared);
  for (let at = 0; at < bytes.length; at += size) await check.push(Buffer.from(bytes.subarray(at, at + size)));
  await check.end();
}

t.test('the tiny model: metadata, tensors and the parameter count', async (t) => {
  const gguf = await writeTinyGguf(join(dir, 'tiny.gguf'));
  const file = await readGguf(gguf.path);
  t.equal(file.metadata['general.architecture'], 'llama');
  t.equal(file.metadata['llama.attention.layer_norm_rms_epsilon'], 0.00001, 'float32 in its shortest form');
  t.equal(file.metadata['tokenizer.ggml.add_bos_token'], true);
  t.equal((file.metadata['tokenizer.ggml.tokens'] as string[]).length, 260);
  t.equal(file.parameterCount, 115_520);
  t.same(file.tensors.at(-1), { name: 'output.weight', type: 'F32', shape: [64, 260] });
  t.same((await readGguf(gguf.path, { maxArrayLength: 5 })).metadata['tokenizer.ggml.scores'], []);
  t.equal(fileTypeName(file.metadata['general.file_type']), 'F32');
  t.equal(fileTypeName(15), 'Q4_K_M');
  t.equal(fileTypeName(undefined), 'unknown');
  t.ok(await hasGgufMagic(gguf.path));
  await checkGguf(gguf.path);
  await streamed(await readFile(gguf.path), 1000);

  const other = await fileOf(Buffer.from('not a gguf file at all'));
  t.notOk(await hasGgufMagic(other));
  await t.rejects(readGguf(other), new GgufFormatError('not a GGUF file'));
  await streamed(Buffer.from('not a gguf file at all'), 3);
  await streamed(Buffer.from('GG'), 1);
});

t.test('headers as large as real models pass', async (t) => {
  // Gemma 3's vocabulary, more merges than any BPE tokenizer has, and a long chat template.
  const tokens = Array.from({ length: 262_144 }, (_, i) => `tok${i.toString(36)}`);
  const merges = Array.from({ length: 500_000 }, (_, i) => `${(i * 7).toString(36)} ${(i * 13).toString(36)}`);
  const template = '{{ if .System }}'.padEnd(64 * 1024, 'x');
  const bytes = header([
    ['general.architecture', text('llama')],
    ['general.alignment', u32(32)],
    ['tokenizer.ggml.tokens', arrayOf(ValueType.STRING, tokens)],
    ['tokenizer.ggml.scores', arrayOf(ValueType.FLOAT32, tokens.map(() => 0))],
    ['tokenizer.ggml.token_type', arrayOf(ValueType.INT32, tokens.map(() => 1))],
    ['tokenizer.ggml.merges', arrayOf(ValueType.STRING, merges)],
    ['tokenizer.chat_template', text(template)],
    ...manyKeys(GGUF_LIMITS.maxKeys - 7),
  ]);
  const path = await fileOf(bytes);
  const file = await readGguf(path);
  t.equal((file.metadata['tokenizer.ggml.tokens'] as string[]).length, 262_144);
  t.equal((file.metadata['tokenizer.ggml.merges'] as string[]).at(-1), merges.at(-1));
  t.equal(file.metadata['tokenizer.chat_template'], template);
  t.equal(Object.keys(file.metadata).length, GGUF_LIMITS.maxKeys);
  await streamed(bytes, 64 * 1024);

  const tensors = Array.from({ length: GGUF_LIMITS.maxTensors }, (_, i) => ({ name: `blk.${i}.weight`, dims: [2, 3, 4, 5], offset: 0 }));
  const many = await readGguf(await fileOf(Buffer.concat([header([], { tensors }), Buffer.alloc(32)])));
  t.equal(many.tensors.length, GGUF_LIMITS.maxTensors);
  t.equal(many.parameterCount, GGUF_LIMITS.maxTensors * 120);
});

t.test('a key named __proto__ is only a key', async (t) => {
  const file = await readGguf(await fileOf(header([['__proto__', arrayOf(ValueType.UINT8, [1, 2])], ['constructor', text('x')]])));
  t.same(Object.keys(file.metadata), ['__proto__', 'constructor']);
  t.same(file.metadata['__proto__'], [1, 2]);
});

t.test('a SentencePiece vocabulary must spell every byte, which llama.cpp looks up unchecked', async (t) => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const vocabulary = (tokens: string[], model = 'llama') =>
    header([
      ['tokenizer.ggml.model', text(model)],
      ['tokenizer.ggml.tokens', arrayOf(ValueType.STRING, ['<unk>', '<s>', '</s>', ...tokens])],
    ]);
  await checkGguf(await fileOf(vocabulary(bytes)));
  const withAsciiItself = bytes.map((token, b) => (b === 0x41 ? 'A' : token));
  await checkGguf(await fileOf(vocabulary(withAsciiItself)));
  const broken = bytes.map((token, b) => (b === 0x4a ? '<0x4\u001f' : token));
  await t.rejects(checkGguf(await fileOf(vocabulary(broken))), { message: /"tokenizer.ggml.tokens": the vocabulary lacks the byte token <0x4A>/ });
  await t.rejects(checkGguf(await fileOf(vocabulary(bytes.slice(0, 255)))), { message: /byte token <0xFF>/ });
  await checkGguf(await fileOf(vocabulary(bytes.slice(0, 10), 'gpt2')));
});

t.test('names with control characters are refused: llama.cpp reads them as C strings', async (t) => {
  await t.rejects(checkGguf(await fileOf(header([['\u0000\u0000\u0000\u0000ral.architecture', text('llama')]]))), { message: /control characters in the name/ });
  await t.rejects(checkGguf(await fileOf(header([['general.name', text('x')], ['general\u0000name', text('y')]]))), { message: /control characters in the name/ });
  const tensors = [{ name: 'blk.0\u0000.weight', dims: [2], offset: 0 }];
  await t.rejects(checkGguf(await fileOf(Buffer.concat([header([], { tensors }), Buffer.alloc(32)]))), { message: /GGUF tensor .*control characters in the name/ });
});

interface Hostile {
  name: string;
  bytes: () => Uint8Array | Promise<Uint8Array>;
  error: RegExp;
}

const max = GGUF_LIMITS.maxArrayElements;
const hostile: Hostile[] = [
  {
    name: 'an array declaring 150M entries',
    bytes: () => header([['evil', arrayOf(ValueType.UINT8, [], 150_000_000)]]),
    error: /^GGUF key "evil": array size 150000000 exceeds maximum 8388608$/,
  },
  {
    name: 'an array one element over the cap, its data all there',
    bytes: () => header([['big', arrayOf(ValueType.UINT8, new Array(max + 1).fill(0))]]),
    error: /^GGUF key "big": array size 8388609 exceeds maximum 8388608$/,
  },
  {
    name: 'an array of strings longer than the file',
    bytes: () => header([['evil', arrayOf(ValueType.STRING, [], 1_000_000)]]),
    error: /^GGUF key "evil": GGUF header declares more data than the file holds$/,
  },
  {
    name: 'arrays that together hold too many elements',
    bytes: () => header([['a', arrayOf(ValueType.UINT8, new Array(max / 2).fill(0))], ['b', arrayOf(ValueType.UINT8, new Array(max / 2 + 1).fill(0))]]),
    error: /^GGUF key "b": arrays hold more than 8388608 elements in all$/,
  },
  {
    name: '2M metadata keys',
    bytes: () => header([], { keyCount: 2_000_000 }),
    error: /^GGUF header declares 2000000 metadata keys, more than the 4096 allowed$/,
  },
  {
    name: 'one key more than allowed',
    bytes: () => header(manyKeys(GGUF_LIMITS.maxKeys + 1)),
    error: /^GGUF header declares 4097 metadata keys, more than the 4096 allowed$/,
  },
  {
    name: 'one tensor more than allowed',
    bytes: () => header([], { tensors: Array.from({ length: GGUF_LIMITS.maxTensors + 1 }, (_, i) => ({ name: `t${i}`, dims: [1], offset: 0 })) }),
    error: /^GGUF header declares 8193 tensors, more than the 8192 allowed$/,
  },
  {
    name: 'arrays nested 100,000 deep',
    bytes: () => {
      // Written by hand: the fixture's writer recurses, as the readers this guards against do.
      const deep = new GgufWriter();
      deep.bytes(header([], { keyCount: 1 }).subarray(0, 24));
      deep.string('deep');
      deep.u32(ValueType.ARRAY);
      for (let depth = 0; depth < 100_000; depth++) {
        deep.u32(ValueType.ARRAY);
        deep.u64(1);
      }
      deep.u32(ValueType.UINT8);
      deep.u64(1);
      deep.bytes(Uint8Array.of(1));
      return deep.contents();
    },
    error: /^GGUF key "deep": nested arrays are not supported$/,
  },
  {
    name: 'a value type no GGUF version has',
    bytes: () => header([['odd', { type: 13, value: 7 }]]),
    error: /^GGUF key "odd": invalid type 13$/,
  },
  {
    name: 'an array item type no GGUF version has',
    bytes: () => header([['odd', arrayOf(42, [1])]]),
    error: /^GGUF key "odd": invalid array type 42$/,
  },
  {
    name: 'a string longer than 16 MiB',
    bytes: () => {
      const bytes = header([['long', text('x')]]);
      const at = bytes.indexOf('long') + 4 + 4;
      bytes.writeBigUInt64LE(BigInt(GGUF_LIMITS.maxStringBytes + 1), at);
      return bytes;
    },
    error: /^GGUF key "long": string length 16777217 exceeds maximum 16777216$/,
  },
  {
    name: 'a key written twice',
    bytes: () => header([['general.name', text('a')], ['general.name', text('b')]]),
    error: /^GGUF key "general.name": duplicate key$/,
  },
  {
    name: 'an empty key',
    bytes: () => header([['general.name', text('a')], ['', text('b')]]),
    error: /^GGUF key 1: empty name$/,
  },
  {
    name: 'an alignment that is not a power of two',
    bytes: () => header([['general.alignment', u32(24)]]),
    error: /^GGUF key "general.alignment": must be a uint32 power of two$/,
  },
  {
    name: 'an alignment of another type',
    bytes: () => header([['general.alignment', text('32')]]),
    error: /^GGUF key "general.alignment": must be a uint32 power of two$/,
  },
  {
    name: 'a header past the size cap',
    // Nine 16 MiB strings in a sparse file: 144 MiB of header without writing it.
    bytes: async () => {
      const bytes = header([['big', arrayOf(ValueType.STRING, [], 9)]]);
      const path = join(dir, 'sparse.gguf');
      const handle = await open(path, 'w');
      const at = bytes.indexOf('big') + 'big'.length + 4 + 4 + 8; // past the key, value type, item type and count
      const stringLength = Buffer.alloc(8);
      stringLength.writeBigUInt64LE(BigInt(GGUF_LIMITS.maxStringBytes));
      await handle.write(bytes.subarray(0, at), 0, at, 0);
      for (let i = 0; i < 9; i++) await handle.write(stringLength, 0, 8, at + i * (8 + GGUF_LIMITS.maxStringBytes));
      await handle.truncate(at + 9 * (8 + GGUF_LIMITS.maxStringBytes) + 1024);
      await handle.close();
      return readFile(path);
    },
    error: /^GGUF key "big": GGUF header is larger than 134217728 bytes$/,
  },
  {
    name: 'a tensor with five dimensions',
    bytes: () => header([], { tensors: [{ name: 'w', dims: [1, 1, 1, 1, 1], offset: 0 }] }),
    error: /^GGUF tensor "w": 5 dimensions, more than 4$/,
  },
  {
    name: 'a tensor whose element count overflows',
    bytes: () => header([], { tensors: [{ name: 'w', dims: [2 ** 40, 2 ** 40], offset: 0 }] }),
    error: /^GGUF tensor "w": too many elements$/,
  },
  {
    name: 'two tensors of one name',
    bytes: () => header([], { tensors: [{ name: 'w', dims: [1], offset: 0 }, { name: 'w', dims: [1], offset: 32 }] }),
    error: /^GGUF tensor "w": duplicate name$/,
  },
  {
    name: 'tensor data past the end of the file',
    bytes: () => header([], { tensors: [{ name: 'w', dims: [8], offset: 1 << 20 }] }),
    error: /^GGUF tensor "w": data lies beyond the end of the file$/,
  },
  {
    name: 'GGUF version 1, which llama.cpp no longer loads',
    bytes: () => header([], { version: 1 }),
    error: /^unsupported GGUF version 1$/,
  },
  {
    name: 'a GGUF version from the future',
    bytes: () => header([], { version: 4 }),
    error: /^unsupported GGUF version 4$/,
  },
  {
    name: 'a model cut short',
    bytes: () => {
      const bytes = tinyGgufBytes();
      const name = 'blk.1.ffn_up.weight';
      return bytes.subarray(0, bytes.indexOf(name) + name.length + 6);
    },
    error: /^GGUF tensor "blk.1.ffn_up.weight": unexpected end of GGUF header$/,
  },
];

t.test('hostile headers are refused, naming the problem', async (t) => {
  for (const { name, bytes, error } of hostile) {
    const contents = await bytes();
    const path = await fileOf(contents);
    await t.rejects(checkGguf(path), { name: 'GgufFormatError', message: error }, `${name}: file`);
    await t.rejects(readGguf(path, { maxArrayLength: 5 }), { name: 'GgufFormatError', message: error }, `${name}: show's read`);
    await t.rejects(streamed(contents, 4093), { name: 'GgufFormatError', message: error }, `${name}: upload`);
  }
});

t.test('an upload without a declared length is checked as it arrives', async (t) => {
  await streamed(tinyGgufBytes(), 777, Number.POSITIVE_INFINITY);
  const evil = header([['evil', arrayOf(ValueType.UINT8, [], 150_000_000)]]);
  await t.rejects(streamed(evil, 5, Number.POSITIVE_INFINITY), { message: /array size 150000000 exceeds maximum/ });
  const cut = tinyGgufBytes().subarray(0, 5000);
  await t.rejects(streamed(cut, 100, Number.POSITIVE_INFINITY), { message: /unexpected end of GGUF header/ });
});

t.test('a bad header stops an upload early', async (t) => {
  const evil = Buffer.concat([header([['evil', arrayOf(ValueType.UINT8, [], 150_000_000)]]), Buffer.alloc(1 << 20)]);
  const check = new GgufStreamCheck(evil.length);
  let pushed = 0;
  const pushAll = async () => {
    for (; pushed < evil.length; pushed += 4096) await check.push(evil.subarray(pushed, pushed + 4096));
  };
  await t.rejects(pushAll(), { message: /array size 150000000/ });
  t.ok(pushed < 64 * 1024, `refused after ${pushed} of ${evil.length} bytes`);
});
