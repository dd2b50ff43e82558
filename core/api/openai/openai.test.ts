// The /v1 API's shapes on a node running the sim engine: chat and text completions (plain and
// SSE), embeddings, models, OpenAI-shaped errors, and a client that leaves aborting its run.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { startTestNode, type TestNode } from '../../../conformance/fixtures/node.js';
import { silentLogger } from '../../log.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE } from '../../models/manifest.js';
import { parseModelName } from '../../models/name.js';
import { fsStore } from '../../../plugins/storage-fs/index.js';

/** Writes models straight into the store: the sim engine never reads the weights. */
async function seedModels(dataDir: string, names: string[]): Promise<void> {
  const store = fsStore({ model_dir: join(dataDir, 'models') })({ logger: silentLogger() });
  await store.start();
  const config = { model_format: 'gguf', model_family: 'llama', model_families: ['llama'], model_type: '1B', file_type: 'F32' };
  for (const name of names) {
    const weights = await store.putBlobBytes(randomBytes(4096));
    const configBlob = await store.putBlobBytes(Buffer.from(JSON.stringify(config)));
    await store.putManifest(parseModelName(name), {
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, ...configBlob },
      layers: [{ mediaType: LAYER_MEDIA_TYPES.model, ...weights }],
    });
    // Distinct modification times, so "newest first" is observable.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await store.stop();
}

const dataDir = mkdtempSync(join(tmpdir(), 'od-openai-'));
await seedModels(dataDir, ['tiny', 'me/other:v1']);
const node: TestNode = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' }, dataDir });
t.teardown(async () => {
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) =>
  fetch(`${node.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The data of each SSE frame, `[DONE]` included; throws on anything that is not a `data:` frame. */
async function frames(response: Response): Promise<string[]> {
  const text = await response.text();
  if (!text.endsWith('\n\n')) throw new Error(`the stream does not end with a blank line: ${JSON.stringify(text.slice(-40))}`);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      if (!frame.startsWith('data: ') || frame.includes('\n')) throw new Error(`not a data frame: ${JSON.stringify(frame)}`);
      return frame.slice('data: '.length);
    });
}

const error = (status: number, message: string | RegExp) => ({
  error: { message, type: status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error', param: null, code: null },
});

t.test('GET /v1/models lists the store newest first', async (t) => {
  const response = await fetch(`${node.url}/v1/models`);
  const body = (await response.json()) as { data: { id: string; object: string; created: number; owned_by: string }[] };
  t.same(
    body.data.map(({ id, object, owned_by }) => ({ id, object, owned_by })),
    [
      { id: 'me/other:v1', object: 'model', owned_by: 'me' },
      { id: 'tiny:latest', object: 'model', owned_by: 'library' },
    ],
  );
  for (const model of body.data) t.ok(Number.isInteger(model.created) && Math.abs(model.created - Date.now() / 1000) < 600, 'created in seconds');
});

t.test('GET /v1/models/{model} retrieves namespaced names as given; an unknown one is 404', async (t) => {
  const other = (await (await fetch(`${node.url}/v1/models/me/other:v1`)).json()) as Record<string, unknown>;
  t.match(other, { id: 'me/other:v1', owned_by: 'me' });
  const missing = await fetch(`${node.url}/v1/models/nope`);
  t.equal(missing.status, 404);
  t.same(await missing.json(), error(404, "model 'nope' not found"));
});

t.test('chat completion', async (t) => {
  const response = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 });
  const body = (await response.json()) as any;
  t.match(body, {
    id: /^chatcmpl-\d+$/,
    object: 'chat.completion',
    created: Number,
    model: 'tiny',
    system_fingerprint: 'fp_ollama',
    choices: [{ index: 0, message: { role: 'assistant', content: String }, finish_reason: 'length' }],
  });
  t.equal(body.choices[0].message.content.length > 0, true, 'some text');
  t.equal(body.choices[0].message.tool_calls, undefined);
  t.equal(body.usage.completion_tokens, 3);
});

t.test('chat accepts content parts, system and developer roles, stop, seed and json_object', async (t) => {
  const response = await post('/v1/chat/completions', {
    model: 'tiny',
    messages: [
      { role: 'developer', content: 'be brief' },
      { role: 'system', content: [{ type: 'text', text: 'really' }] },
      { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'there' }] },
    ],
    max_completion_tokens: 2,
    stop: ['\n\n'],
    seed: 42,
    temperature: 0.2,
    top_p: 0.9,
    frequency_penalty: 0.1,
    presence_penalty: 0.1,
    response_format: { type: 'json_object' },
  });
  t.equal(response.status, 200, await response.clone().text());
  t.equal(((await response.json()) as any).usage.completion_tokens, 2);
});

t.test('streamed chat: chunks, a finish reason, usage on request', async (t) => {
  const response = await post('/v1/chat/completions', {
    model: 'tiny',
    messages: [{ role: 'user', content: 'hello' }],
    max_tokens: 3,
    stream: true,
    stream_options: { include_usage: true },
  });
  const data = await frames(response);
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  const id = chunks[0].id;
  t.match(id, /^chatcmpl-\d+$/);
  for (const chunk of chunks) t.match(chunk, { id, object: 'chat.completion.chunk', model: 'tiny', system_fingerprint: 'fp_ollama', created: Number });
  const usage = chunks.at(-1);
  t.same(usage.choices, []);
  t.match(usage.usage, { completion_tokens: 3, prompt_tokens: Number, total_tokens: Number });
  const last = chunks.at(-2);
  t.same(last.choices, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: 'length' }]);
  const tokens = chunks.slice(0, -2);
  t.equal(tokens.length, 3);
  for (const chunk of tokens) {
    t.match(chunk.choices, [{ index: 0, delta: { role: 'assistant', content: String }, finish_reason: null }]);
    t.equal(chunk.usage, undefined);
  }
});

t.test('streamed chat without include_usage sends no usage chunk', async (t) => {
  const data = await frames(await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, stream: true }));
  t.equal(data.length, 3, 'one token, the finish chunk, [DONE]');
  t.equal(JSON.parse(data[1]!).choices[0].finish_reason, 'length');
});

t.test('text completion, plain and streamed', async (t) => {
  const plain = (await (await post('/v1/completions', { model: 'tiny', prompt: 'Once', max_tokens: 2, suffix: '' })).json()) as any;
  t.match(plain, {
    id: /^cmpl-\d+$/,
    object: 'text_completion',
    created: Number,
    model: 'tiny',
    system_fingerprint: 'fp_ollama',
    choices: [{ text: String, index: 0, finish_reason: 'length' }],
    usage: { completion_tokens: 2, prompt_tokens: Number, total_tokens: Number },
  });
  const data = await frames(await post('/v1/completions', { model: 'tiny', prompt: 'Once', max_tokens: 2, stream: true, stream_options: { include_usage: true } }));
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
  t.equal(chunks.length, 4, 'two tokens, the finish chunk, the usage chunk');
  for (const chunk of chunks) t.match(chunk, { id: /^cmpl-\d+$/, object: 'text_completion', model: 'tiny' });
  t.match(chunks[0].choices, [{ text: String, index: 0, finish_reason: null }]);
  t.same(chunks[2].choices, [{ text: '', index: 0, finish_reason: 'length' }]);
  t.same(chunks[3].choices, []);
  t.equal(chunks[3].usage.completion_tokens, 2);
});

t.test('embeddings: strings and lists, float and base64, dimensions', async (t) => {
  const one = (await (await post('/v1/embeddings', { model: 'tiny', input: 'hello' })).json()) as any;
  t.match(one, { object: 'list', model: 'tiny', data: [{ object: 'embedding', index: 0, embedding: Array }], usage: { prompt_tokens: Number, total_tokens: Number } });
  t.equal(one.usage.prompt_tokens, one.usage.total_tokens);
  const vector = one.data[0].embedding as number[];
  t.ok(vector.length > 8);

  const two = (await (await post('/v1/embeddings', { model: 'tiny', input: ['hello', 'world'] })).json()) as any;
  t.same(two.data[0].embedding, vector, 'the same text embeds the same');

  const packed = (await (await post('/v1/embeddings', { model: 'tiny', input: 'hello', encoding_format: 'base64' })).json()) as any;
  const bytes = Buffer.from(packed.data[0].embedding as string, 'base64');
  const floats = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  t.same(floats, vector.map((x) => Math.fround(x)));

  const short = (await (await post('/v1/embeddings', { model: 'tiny', input: 'hello', dimensions: 8 })).json()) as any;
  const cut = short.data[0].embedding as number[];
  t.equal(cut.length, 8);
  t.ok(Math.abs(Math.hypot(...cut) - 1) < 1e-9, 'renormalized');

  const empty = (await (await post('/v1/embeddings', { model: 'tiny', input: '' })).json()) as any;
  t.equal(empty.data.length, 1, 'an empty string is one input');
});

t.test('errors take OpenAI shape with Ollama wording', async (t) => {
  const cases: [string, unknown, number, string | RegExp][] = [
    ['/v1/chat/completions', { model: 'tiny', messages: [] }, 400, "[] is too short - 'messages'"],
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }, 400, 'model is required'],
    ['/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, "model 'nope' not found"],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user' }] }, 400, 'invalid message content type: <nil>'],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }, 400, "invalid type for 'temperature': expected a number"],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }, 400, 'image URLs are not currently supported, please use base64 encoded data instead'],
    ['/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 'data:image/gif;base64,R0lG' }] }] }, 400, 'invalid image input'],
    ['/v1/completions', { model: 'tiny', prompt: 'x', stop: ['a', 3] }, 400, "invalid type for 'stop' field: number"],
    ['/v1/embeddings', { model: 'tiny', input: [] }, 400, 'invalid input'],
    ['/v1/embeddings', { model: 'tiny', input: 'x', encoding_format: 'int8' }, 400, "Invalid value for 'encoding_format' = int8. Supported values: ['float', 'base64']."],
    ['/v1/embeddings', { model: 'bad name!', input: 'x' }, 400, 'invalid model name'],
    // Each /v1 route words a missing model as the Ollama handler behind it does.
    ['/v1/embeddings', { model: 'nope', input: 'x' }, 404, 'model "nope" not found, try pulling it first'],
    ['/v1/embeddings', { input: 'x' }, 404, "model '' not found"],
    ['/v1/completions', { prompt: 'x' }, 404, "model '' not found"],
    ['/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }], top_logprobs: 21 }, 400, 'top_logprobs must be between 0 and 20'],
    ['/v1/completions', { model: 'nope', prompt: 'x', logprobs: 21 }, 400, 'top_logprobs must be between 0 and 20'],
    ['/v1/completions', { model: 'nope', prompt: 'x' }, 404, "model 'nope' not found"],
  ];
  for (const [path, body, status, message] of cases) {
    const response = await post(path, body);
    t.equal(response.status, status, `${path} ${JSON.stringify(body)}`);
    t.same(await response.json(), error(status, message));
  }
  const broken = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
  t.equal(broken.status, 400);
  t.match(await broken.json(), { error: { message: /^invalid JSON in request body/, type: 'invalid_request_error', param: null, code: null } });
  const empty = await fetch(`${node.url}/v1/embeddings`, { method: 'POST' });
  t.same(await empty.json(), error(400, 'missing request body'));
});

t.test('a client that disconnects mid-stream frees the model for the next request', async (t) => {
  const ask = (max_tokens?: number) => post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'talk' }], max_tokens }).then((r) => r.json());
  let started = Date.now();
  await ask();
  const whole = Date.now() - started;

  const controller = new AbortController();
  // Its own connection pool: after an abort undici opens a spare connection that, unused, would
  // hold up the node's stop until the server's connection timeouts fire.
  const agent = new Agent();
  t.teardown(() => agent.close());
  const response = await undiciFetch(`${node.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'talk' }], stream: true }),
    signal: controller.signal,
    dispatcher: agent,
  });
  await response.body!.getReader().read();
  controller.abort();
  // One slot per model (OLLAMA_NUM_PARALLEL=1): had the run gone on, this would wait for its end.
  started = Date.now();
  const next = (await ask(1)) as any;
  t.equal(next.usage.completion_tokens, 1);
  t.ok(Date.now() - started < whole / 2, `served in ${Date.now() - started} ms; a whole reply takes ${whole} ms`);
});
