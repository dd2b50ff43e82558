// Hostile GGUF headers at the doors of the store: an upload that carries one is refused before the
// blob becomes visible, and /api/create refuses one already in the store, as model or adapter.

import { join } from 'node:path';
import t from 'tap';
import { plantBlob } from '../../../conformance/fixtures/planted-model.js';
import { ggufHeaderBytes, tinyGgufBytes, ValueType, type MetadataValue } from '../../../conformance/fixtures/tiny-gguf.js';
import { createTiny, digestOf, nodeFor, postJson } from './test-support.js';

const { url, dataDir } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
const store = join(dataDir, 'models');

const manyKeys = (n: number) => Array.from({ length: n }, (_, i): [string, MetadataValue] => [`x.key.${i}`, { type: ValueType.UINT8, value: 1 }]);
const nested: MetadataValue = { type: ValueType.ARRAY, itemType: ValueType.ARRAY, value: [{ type: ValueType.ARRAY, itemType: ValueType.UINT8, value: [1] }] };

/** The tiny model with extra keys: loadable but for what they add. */
const hostile = {
  hugeArray: tinyGgufBytes({ extraMetadata: [['evil', { type: ValueType.ARRAY, itemType: ValueType.UINT8, value: [], count: 150_000_000 }]] }),
  tooManyKeys: tinyGgufBytes({ extraMetadata: manyKeys(4096) }),
  nested: tinyGgufBytes({ extraMetadata: [['deep', nested]] }),
  duplicateKey: tinyGgufBytes({ extraMetadata: [['general.name', { type: ValueType.STRING, value: 'again' }]] }),
};

async function upload(bytes: Uint8Array): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/api/blobs/${digestOf(bytes)}`, { method: 'POST', body: bytes });
  return { status: response.status, body: await response.text() };
}

async function present(bytes: Uint8Array): Promise<number> {
  return (await fetch(`${url}/api/blobs/${digestOf(bytes)}`, { method: 'HEAD' })).status;
}

t.test('an upload whose GGUF header breaks a bound is refused and never becomes a blob', async (t) => {
  const cases: [Uint8Array, string][] = [
    [hostile.hugeArray, 'GGUF key "evil": array size 150000000 exceeds maximum 8388608'],
    [hostile.tooManyKeys, 'GGUF header declares 4120 metadata keys, more than the 4096 allowed'],
    [hostile.nested, 'GGUF key "deep": nested arrays are not supported'],
    [hostile.duplicateKey, 'GGUF key "general.name": duplicate key'],
  ];
  for (const [bytes, error] of cases) {
    const answer = await upload(bytes);
    t.equal(answer.status, 400, error);
    t.same(JSON.parse(answer.body), { error });
    t.equal(await present(bytes), 404, 'the blob is not in the store');
  }
});

t.test('uploads of good GGUFs and of other files still land', async (t) => {
  const model = tinyGgufBytes({ seed: 3 });
  t.equal((await upload(model)).status, 201);
  t.equal(await present(model), 200);
  const text = Buffer.from('{"not": "a model"}');
  t.equal((await upload(text)).status, 201);
  t.equal(await present(text), 200);
});

t.test('create refuses a hostile GGUF already in the store, naming the file and the problem', async (t) => {
  const cases: [Uint8Array, string][] = [
    [hostile.tooManyKeys, 'evil.gguf: GGUF header declares 4120 metadata keys, more than the 4096 allowed'],
    [hostile.nested, 'evil.gguf: GGUF key "deep": nested arrays are not supported'],
    [hostile.duplicateKey, 'evil.gguf: GGUF key "general.name": duplicate key'],
  ];
  for (const [bytes, error] of cases) {
    const digest = await plantBlob(store, bytes);
    const created = await postJson(url, '/api/create', { model: 'evil', files: { 'evil.gguf': digest }, stream: false });
    t.equal(created.status, 400, error);
    t.same(created.body, { error });
  }
  t.equal((await postJson(url, '/api/show', { model: 'evil' })).status, 404, 'no model was made');
});

t.test('create refuses a hostile GGUF as an adapter', async (t) => {
  await createTiny(url, 'base');
  const digest = await plantBlob(store, hostile.nested);
  const created = await postJson(url, '/api/create', { model: 'tuned', from: 'base', adapters: { 'lora.gguf': digest }, stream: false });
  t.equal(created.status, 400);
  t.same(created.body, { error: 'lora.gguf: GGUF key "deep": nested arrays are not supported' });
  const header = ggufHeaderBytes({ metadata: [['general.type', { type: ValueType.STRING, value: 'adapter' }]] });
  const adapter = await plantBlob(store, header);
  t.equal((await postJson(url, '/api/create', { model: 'tuned', from: 'base', adapters: { 'lora.gguf': adapter }, stream: false })).status, 200, 'a sound adapter is taken');
});
