// The official `openai` npm client against a node running the llama-cpp engine with the tiny GGUF
// model: chat (plain and streamed), completions, embeddings, models, and a not-found error.

import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t from 'tap';
import { startTestNode } from '../../../conformance/fixtures/node.js';
import { writeTinyGguf } from '../../../conformance/fixtures/tiny-gguf.js';

const dir = await mkdtemp(join(tmpdir(), 'od-openai-client-'));
const node = await startTestNode();
t.teardown(async () => {
  await node.stop();
  await rm(dir, { recursive: true, force: true });
});

async function createTinyModel(): Promise<void> {
  const gguf = await writeTinyGguf(join(dir, 'tiny.gguf'));
  const digest = `sha256:${gguf.sha256}`;
  const upload = await fetch(`${node.url}/api/blobs/${digest}`, { method: 'POST', body: await readFile(gguf.path) });
  if (upload.status !== 201) throw new Error(`blob upload answered ${upload.status}: ${await upload.text()}`);
  const create = await fetch(`${node.url}/api/create`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny', files: { 'tiny.gguf': digest }, parameters: { num_ctx: 2048 }, stream: false }),
  });
  if (create.status !== 200) throw new Error(`create answered ${create.status}: ${await create.text()}`);
}

await createTinyModel();
const client = new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'unused', maxRetries: 0 });

t.test('chat.completions.create', async (t) => {
  const completion = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, seed: 1 });
  t.equal(completion.object, 'chat.completion');
  t.match(completion.id, /^chatcmpl-/);
  t.equal(completion.model, 'tiny');
  const choice = completion.choices[0]!;
  t.equal(choice.message.role, 'assistant');
  t.type(choice.message.content, 'string');
  t.ok(choice.finish_reason === 'stop' || choice.finish_reason === 'length', choice.finish_reason);
  t.ok(completion.usage!.prompt_tokens > 0);
  t.ok(completion.usage!.completion_tokens <= 4);
  t.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
});

t.test('chat.completions.create with stream and usage', async (t) => {
  const stream = await client.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'hello' }],
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  t.ok(chunks.length >= 2);
  for (const chunk of chunks) t.equal(chunk.object, 'chat.completion.chunk');
  const finished = chunks.filter((chunk) => chunk.choices[0]?.finish_reason);
  t.equal(finished.length, 1, 'one chunk carries the finish reason');
  const last = chunks.at(-1)!;
  t.same(last.choices, []);
  t.ok(last.usage!.total_tokens > 0);
});

t.test('completions.create', async (t) => {
  const completion = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 4 });
  t.equal(completion.object, 'text_completion');
  t.match(completion.id, /^cmpl-/);
  t.type(completion.choices[0]!.text, 'string');
  t.ok(completion.usage!.prompt_tokens > 0);
});

t.test('embeddings.create (the client asks for base64 and decodes it)', async (t) => {
  const result = await client.embeddings.create({ model: 'tiny', input: ['hello', 'world'] });
  t.equal(result.object, 'list');
  t.equal(result.data.length, 2);
  t.same(
    result.data.map((d) => d.index),
    [0, 1],
  );
  for (const item of result.data) {
    t.equal(item.embedding.length, 64, 'n_embd of the tiny model');
    t.ok(item.embedding.every(Number.isFinite));
  }
  const floats = await client.embeddings.create({ model: 'tiny', input: 'hello', encoding_format: 'float' });
  const fromBase64 = result.data[0]!.embedding;
  t.ok(floats.data[0]!.embedding.every((x, i) => Math.abs(x - fromBase64[i]!) < 1e-6), 'float and base64 agree');
});

t.test('models.list and models.retrieve', async (t) => {
  const ids: string[] = [];
  for await (const model of client.models.list()) ids.push(model.id);
  t.ok(ids.includes('tiny:latest'), ids.join(', '));
  const model = await client.models.retrieve('tiny');
  t.match(model, { id: 'tiny', object: 'model', owned_by: 'library' });
});

t.test('an unknown model is a NotFoundError with the message', async (t) => {
  await t.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), {
    constructor: OpenAI.NotFoundError,
    status: 404,
    message: "404 model 'nope' not found",
  });
});
