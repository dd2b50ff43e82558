// The Ollama API over the real embedded llama.cpp engine: a tiny GGUF written to disk, streamed up
// through /api/blobs, made a model with /api/create, then generate, chat and embed on the CPU.

import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeTinyGguf } from '../../../conformance/fixtures/tiny-gguf.js';
import { getJson, ndjson, nodeFor, post, postJson } from './test-support.js';

const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'llama-cpp' });
const dir = await mkdtemp(join(tmpdir(), 'od-ollama-api-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const gguf = await writeTinyGguf(join(dir, 'tiny.gguf'));
const digest = `sha256:${gguf.sha256}`;
const SHORT = { num_predict: 8, temperature: 0, seed: 1 };

t.test('a GGUF streams up through /api/blobs and /api/create makes it a model', async (t) => {
  t.equal((await fetch(`${url}/api/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  const upload = await fetch(`${url}/api/blobs/${digest}`, {
    method: 'POST',
    body: createReadStream(gguf.path) as unknown as RequestInit['body'],
    duplex: 'half',
  } as RequestInit);
  t.equal(upload.status, 201);
  t.equal((await fetch(`${url}/api/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  const statuses = (await ndjson(await post(url, '/api/create', { model: 'tiny', files: { 'tiny.gguf': digest } }))).map((l) => l.status);
  t.same(statuses, ['parsing GGUF', `using existing layer ${digest}`, 'writing manifest', 'success']);
  const show = await postJson(url, '/api/show', { model: 'tiny' });
  t.same(show.body.capabilities, ['tools', 'completion']);
  t.equal(show.body.model_info['llama.context_length'], 4096);
});

t.test('generate streams tokens and returns a context that continues the conversation', async (t) => {
  const lines = await ndjson(await post(url, '/api/generate', { model: 'tiny', prompt: 'Hello', options: SHORT }));
  const last = lines.at(-1);
  t.equal(last.done, true);
  t.ok(['stop', 'length'].includes(last.done_reason));
  t.ok(last.prompt_eval_count > 0);
  t.ok(last.eval_count <= 8);
  t.ok(last.total_duration > 0 && last.eval_duration > 0);
  t.ok(Array.isArray(last.context) && last.context.length > 0);
  const whole = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'Hello', stream: false, options: SHORT });
  t.equal(whole.status, 200);
  t.equal(whole.body.response, lines.slice(0, -1).map((l) => l.response).join(''), 'same seed, same text');
  const next = await postJson(url, '/api/generate', { model: 'tiny', prompt: ' again', context: whole.body.context, stream: false, options: SHORT });
  t.equal(next.status, 200);
  t.ok(next.body.context.length > whole.body.context.length);
});

t.test('chat answers as the assistant, streamed or whole', async (t) => {
  const messages = [{ role: 'user', content: 'Hi' }];
  const lines = await ndjson(await post(url, '/api/chat', { model: 'tiny', messages, options: SHORT }));
  t.equal(lines.at(-1).done, true);
  t.ok(lines.every((l) => l.message.role === 'assistant'));
  const whole = await postJson(url, '/api/chat', { model: 'tiny', messages, stream: false, options: SHORT });
  t.equal(whole.body.message.role, 'assistant');
  t.equal(whole.body.message.content, lines.map((l) => l.message.content).join(''));
  t.ok(whole.body.eval_count > 0);
});

t.test('embed returns unit vectors of the model width', async (t) => {
  const embed = await postJson(url, '/api/embed', { model: 'tiny', input: ['hello', 'world'] });
  t.equal(embed.status, 200);
  t.equal(embed.body.embeddings.length, 2);
  t.equal(embed.body.embeddings[0].length, 64);
  t.ok(embed.body.prompt_eval_count > 0);
  const norm = Math.sqrt(embed.body.embeddings[0].reduce((s: number, x: number) => s + x * x, 0));
  t.ok(Math.abs(norm - 1) < 1e-6);
  const legacy = await postJson(url, '/api/embeddings', { model: 'tiny', prompt: 'hello' });
  t.equal(legacy.body.embedding.length, 64);
});

t.test('ps lists the loaded model; keep_alive 0 unloads it', async (t) => {
  const ps = await getJson(url, '/api/ps');
  t.equal(ps.models[0].name, 'tiny:latest');
  t.ok(ps.models[0].size > 0);
  t.equal(ps.models[0].context_length > 0, true);
  t.equal((await postJson(url, '/api/generate', { model: 'tiny', keep_alive: 0 })).body.done_reason, 'unload');
  t.same((await getJson(url, '/api/ps')).models, []);
});
