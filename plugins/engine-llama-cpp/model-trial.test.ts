// A model file llama.cpp aborts on passes every header check; the trial in a child process catches
// it, so /api/create refuses it and the node never loads it. Needs dist/ (npm run build).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { tinyGgufBytes } from '../../conformance/fixtures/tiny-gguf.js';
import { createTiny, digestOf, nodeFor, postJson } from '../../core/api/ollama/test-support.js';
import { trialLoad } from './model-trial.js';

/** The tiny model without its head count: a valid header whose model llama.cpp asserts on and aborts. */
function headless(): Buffer {
  const bytes = Buffer.from(tinyGgufBytes());
  const key = Buffer.from('llama.attention.head_count');
  const at = bytes.indexOf(key);
  if (at < 0) throw new Error('the tiny model has no head count key');
  bytes.write('llamX', at, 'latin1');
  return bytes;
}

const dir = await mkdtemp(join(tmpdir(), 'model-trial-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('the trial passes a good model and refuses one llama.cpp aborts on', async (t) => {
  const good = join(dir, 'tiny.gguf');
  await writeFile(good, tinyGgufBytes());
  await trialLoad(good);
  const bad = join(dir, 'headless.gguf');
  await writeFile(bad, headless());
  await t.rejects(trialLoad(bad), { message: /^llama\.cpp cannot run this model: .+/ });
});

t.test('/api/create refuses the model and the node stays up', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off' });
  const bytes = headless();
  const upload = await fetch(`${url}/api/blobs/${digestOf(bytes)}`, { method: 'POST', body: bytes });
  t.equal(upload.status, 201, 'its header passes');
  const created = await postJson(url, '/api/create', { model: 'headless', files: { 'headless.gguf': digestOf(bytes) }, stream: false });
  t.equal(created.status, 400);
  t.match(created.body, { error: /^llama\.cpp cannot run this model: / });
  t.equal((await postJson(url, '/api/show', { model: 'headless' })).status, 404, 'no model was made');
  await createTiny(url, 'tiny');
  t.equal((await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 1 } })).status, 200, 'the node still runs models');
});
