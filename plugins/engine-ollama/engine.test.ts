// The ollama engine against a scripted daemon (request and answer mapping, errors, abort, ensure-once,
// the /api/ps cache, stop) and against a real one: a second node, and a node that forwards to it.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { tinyModelSpec, writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { createTiny, getJson, post, postJson } from '../../core/api/ollama/test-support.js';
import { loadConfig } from '../../core/config/load.js';
import type { ChatRequest, EmbedRequest, Engine, GenerateRequest, ModelSpec, RunEvent } from '../../core/contracts/engine.js';
import { silentLogger } from '../../core/log.js';
import { FakeDaemon, ndjsonLines } from './fake-daemon.js';
import { FileDigests } from './file-digest.js';
import { keepAlive } from './mapping.js';
import { meta, ollamaEngine } from './index.js';

// The tap loader, for the child process that checks stop() leaves nothing running.
const typescriptLoader = process.execArgv.find((arg) => arg.includes('@tapjs/typescript'));
// The real daemon is a second node running llama.cpp in this process. node-llama-cpp checks its
// binary in a forked process on start; inheriting tap's loader hooks makes that fork take seconds.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const dir = await mkdtemp(join(tmpdir(), 'engine-ollama-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const gguf = await writeTinyGguf(join(dir, 'tiny.gguf'));
const model = tinyModelSpec(gguf);
const signal = () => new AbortController().signal;

function build(url: string): Engine {
  const { config } = loadConfig({ env: { OLLAMA_ENGINE_OLLAMA_URL: url } });
  return ollamaEngine(config.engine)({ logger: silentLogger(), config });
}

/** A started engine on a fresh fake daemon, both closed when the test ends. */
async function onFake(t: Test): Promise<{ engine: Engine; fake: FakeDaemon }> {
  const fake = await FakeDaemon.start();
  const engine = build(fake.url);
  await engine.start();
  t.teardown(async () => {
    await engine.stop();
    await fake.close();
  });
  return { engine, fake };
}

const generateRequest = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model,
  prompt: 'Why is the sky blue?',
  raw: false,
  options: { num_predict: 4, seed: 1 },
  keepAliveMs: 60_000,
  signal: signal(),
  ...overrides,
});

async function collect(stream: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function eventually(condition: () => boolean, withinMs: number): Promise<boolean> {
  const until = performance.now() + withinMs;
  while (!condition() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('the module has the plugin shape', async (t) => {
  t.same(meta, { name: 'ollama', kind: 'engine', provides: ['engine'], requires: ['logger', 'config'] });
  t.equal(build('http://127.0.0.1:1').name, 'ollama');
});

t.test('keep_alive goes as a duration string, -1 (forever) or 0 (unload now)', async (t) => {
  t.equal(keepAlive(90_000), '90000ms');
  t.equal(keepAlive(1500), '1500ms', 'whole seconds would drop the half second');
  t.equal(keepAlive(0), 0);
  t.equal(keepAlive(-1), -1);
});

t.test('generate posts every field to /api/generate and maps the chunks to events', async (t) => {
  const { engine, fake } = await onFake(t);
  const events = await collect(
    engine.generate(
      generateRequest({
        prompt: 'Hello',
        suffix: ' end',
        system: 'Be brief.',
        template: '{{ .Prompt }}',
        format: 'json',
        images: ['aGk='],
        context: [7, 8],
        options: { temperature: 0, num_ctx: 512 },
        keepAliveMs: 90_000,
      }),
    ),
  );
  t.same(fake.calls('POST /api/generate').at(-1)?.body, {
    model: 'tiny:latest',
    prompt: 'Hello',
    suffix: ' end',
    system: 'Be brief.',
    template: '{{ .Prompt }}',
    raw: false,
    format: 'json',
    images: ['aGk='],
    context: [7, 8],
    options: { temperature: 0, num_ctx: 512 },
    keep_alive: '90000ms',
    stream: true,
  });
  t.same(events, [
    { type: 'token', text: 'Hel' },
    { type: 'token', text: 'lo' },
    { type: 'done', doneReason: 'stop', loadDuration: 5, promptEvalCount: 3, promptEvalDuration: 7, evalCount: 2, evalDuration: 11, context: [1, 2, 3] },
  ]);
});

t.test('logprobs go to the daemon as logprobs and top_logprobs, and come back on the events of their chunk', async (t) => {
  const { engine, fake } = await onFake(t);
  const scored = { token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.5 }, { token: 'Yo', logprob: -2 }, { token: 7 }] };
  fake.routes.set('POST /api/chat', (_request, response) =>
    ndjsonLines(response, [
      { message: { role: 'assistant', content: 'Hi' }, logprobs: [scored], done: false },
      { message: { role: 'assistant', content: '' }, logprobs: [{ token: '!', logprob: -1 }], done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', eval_count: 2 },
    ]),
  );
  const events = await collect(engine.chat({ model, messages: [{ role: 'user', content: 'x' }], logprobs: { top: 2 }, options: {}, keepAliveMs: 0, signal: signal() }));
  t.match(fake.calls('POST /api/chat')[0]?.body, { logprobs: true, top_logprobs: 2 });
  t.same(events.slice(0, 2), [
    { type: 'token', text: 'Hi', logprobs: [{ token: 'Hi', logprob: -0.5, top_logprobs: [{ token: 'Hi', logprob: -0.5 }, { token: 'Yo', logprob: -2 }] }] },
    { type: 'token', text: '', logprobs: [{ token: '!', logprob: -1 }] },
  ]);
});

t.test('chat posts messages, tools and think to /api/chat; thinking and tool calls (with their ids) become events', async (t) => {
  const { engine, fake } = await onFake(t);
  fake.routes.set('POST /api/chat', (_request, response) =>
    ndjsonLines(response, [
      { message: { role: 'assistant', content: '', thinking: 'Paris, then.' }, done: false },
      { message: { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', function: { index: 0, name: 'weather', arguments: { city: 'Paris' } } }] }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'length', eval_count: 9 },
    ]),
  );
  const request: ChatRequest = {
    model,
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'weather', arguments: { city: 'Rome' } } }] },
      { role: 'tool', content: 'sunny', tool_name: 'weather' },
    ],
    tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }],
    format: { type: 'object' },
    think: 'high',
    options: { seed: 3 },
    keepAliveMs: -1,
    signal: signal(),
  };
  const events = await collect(engine.chat(request));
  t.same(fake.calls('POST /api/chat')[0]?.body, {
    model: 'tiny:latest',
    messages: request.messages,
    tools: request.tools,
    format: { type: 'object' },
    think: 'high',
    options: { seed: 3 },
    keep_alive: -1,
    stream: true,
  });
  t.same(events, [
    { type: 'thinking', text: 'Paris, then.' },
    { type: 'tool_calls', calls: [{ id: 'call_1', function: { index: 0, name: 'weather', arguments: { city: 'Paris' } } }] },
    { type: 'done', doneReason: 'length', loadDuration: 0, promptEvalCount: 0, promptEvalDuration: 0, evalCount: 9, evalDuration: 0 },
  ]);
});

t.test('embed posts to /api/embed and returns the vectors and counts', async (t) => {
  const { engine, fake } = await onFake(t);
  const request: EmbedRequest = { model, input: ['a', 'b'], truncate: false, options: { num_ctx: 256 }, keepAliveMs: 0, signal: signal() };
  t.same(await engine.embed(request), { embeddings: [[0.6, 0.8], [0.6, 0.8]], promptEvalCount: 4, loadDuration: 9 });
  t.same(fake.calls('POST /api/embed')[0]?.body, { model: 'tiny:latest', input: ['a', 'b'], truncate: false, options: { num_ctx: 256 }, keep_alive: 0 });
});

t.test('capabilities come from /api/show, limited to the ones the contract knows', async (t) => {
  const { engine } = await onFake(t);
  t.same(await engine.capabilities(model), ['completion', 'embedding', 'thinking']);
});

t.test("through a node, the daemon's thinking and its tool calls' ids and indexes reach /api/chat and /v1 unchanged", async (t) => {
  const fake = await FakeDaemon.start();
  t.teardown(() => fake.close());
  const upstreamCall = { id: 'call_upstream', function: { index: 3, name: 'weather', arguments: { city: 'Paris' } } };
  fake.routes.set('POST /api/chat', (_request, response) =>
    ndjsonLines(response, [
      { message: { role: 'assistant', content: '', thinking: 'Rain?' }, done: false },
      { message: { role: 'assistant', content: '', tool_calls: [upstreamCall] }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 2 },
    ]),
  );
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'ollama', OLLAMA_ENGINE_OLLAMA_URL: fake.url } });
  t.teardown(() => node.stop());
  await createTiny(node.url, 'relay');
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];

  const chat = await postJson(node.url, '/api/chat', { model: 'relay', messages, stream: false });
  t.equal(chat.status, 200);
  t.same(chat.body.message, { role: 'assistant', content: '', thinking: 'Rain?', tool_calls: [upstreamCall] });
  t.equal(fake.calls('POST /api/chat').at(-1)?.body.think, true, 'a model that thinks is asked to, as Ollama defaults it');

  const v1 = await postJson(node.url, '/v1/chat/completions', { model: 'relay', messages });
  t.same(v1.body.choices[0].message, {
    role: 'assistant',
    content: '',
    reasoning: 'Rain?',
    tool_calls: [{ id: 'call_upstream', index: 3, type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
  });
  const sse = await (await post(node.url, '/v1/chat/completions', { model: 'relay', messages, stream: true, reasoning_effort: 'high' })).text();
  const deltas = sse.split('\n\n').filter((event) => event.startsWith('data: {')).map((event) => JSON.parse(event.slice(6)).choices[0]?.delta);
  t.match(deltas, [{ reasoning: 'Rain?' }, { tool_calls: [{ id: 'call_upstream', index: 3 }] }, {}], 'streamed the same');
  t.equal(fake.calls('POST /api/chat').at(-1)?.body.think, 'high', 'reasoning_effort reaches the daemon as think');
});

t.test('the first run uploads the model and creates it; later runs do not, concurrent ones share the upload', async (t) => {
  const { engine, fake } = await onFake(t);
  const spec = tinyModelSpec(gguf, 'custom:latest', {
    template: '{{ .Prompt }}',
    system: 'Be brief.',
    parameters: { temperature: 0.5, stop: ['</s>'] },
    messages: [{ role: 'user', content: 'hi' }],
  });
  await Promise.all([1, 2, 3].map(() => collect(engine.generate(generateRequest({ model: spec })))));
  t.equal(fake.calls('POST /api/show').length, 1, 'one /api/show for three concurrent first runs');
  t.equal(fake.calls(`HEAD /api/blobs/${spec.digest}`).length, 1);
  t.same(fake.calls(`POST /api/blobs/${spec.digest}`).map((call) => call.body), [spec.digest], 'the upload carries the file, once');
  t.same(fake.calls('POST /api/create').map((call) => call.body), [
    {
      model: 'custom:latest',
      files: { 'model.gguf': spec.digest },
      template: '{{ .Prompt }}',
      system: 'Be brief.',
      parameters: { temperature: 0.5, stop: ['</s>'] },
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
    },
  ]);

  const before = fake.requests.length;
  await collect(engine.generate(generateRequest({ model: spec })));
  await collect(engine.chat({ model: spec, messages: [{ role: 'user', content: 'hi' }], options: {}, keepAliveMs: 1000, signal: signal() }));
  await engine.embed({ model: spec, input: ['x'], truncate: true, options: {}, keepAliveMs: 1000, signal: signal() });
  const later = fake.requests.slice(before).map((request) => `${request.method} ${request.path}`);
  t.notOk(later.some((route) => /blobs|create|tags/.test(route)), `no upload or create after the first run (${later.join(', ')})`);
});

t.test('a model the daemon holds with the same manifest is used as is; a different one is created again', async (t) => {
  const { engine, fake } = await onFake(t);
  fake.models.set('tiny:latest', model.digest.slice('sha256:'.length));
  await collect(engine.generate(generateRequest()));
  t.equal(fake.calls('GET /api/tags').length, 1);
  t.equal(fake.calls('POST /api/create').length, 0, 'same digest: nothing created');

  const changed = { ...model, digest: `sha256:${'1'.repeat(64)}` };
  fake.blobs.add(model.digest);
  await collect(engine.generate(generateRequest({ model: changed })));
  t.equal(fake.calls(`POST /api/blobs/${model.digest}`).length, 0, 'a blob the daemon has is not uploaded');
  t.equal(fake.calls('POST /api/create').length, 1, 'another digest: created again');
});

t.test('a file in a model store is known by its name; others are hashed', async (t) => {
  const digests = new FileDigests();
  const named = join(dir, `sha256-${'a'.repeat(64)}`);
  await writeFile(named, 'not what the name says');
  t.same(await digests.of(named, signal()), { digest: `sha256:${'a'.repeat(64)}`, size: 22 });
  t.same(await digests.of(gguf.path, signal()), { digest: model.digest, size: gguf.size });
});

t.test("the daemon's errors become product errors", async (t) => {
  const { engine, fake } = await onFake(t);
  const answer = (status: number, body: unknown) =>
    fake.routes.set('POST /api/generate', (_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });

  answer(404, { error: "model 'tiny' not found" });
  await t.rejects(collect(engine.generate(generateRequest())), { code: 'OD_ERR_MODEL_NOT_FOUND', message: "model 'tiny' not found" });
  answer(400, { error: 'invalid options' });
  await t.rejects(collect(engine.generate(generateRequest())), { code: 'OD_ERR_BAD_REQUEST', message: 'invalid options' });
  answer(503, { error: 'server busy' });
  await t.rejects(collect(engine.generate(generateRequest())), { code: 'OD_ERR_QUEUE_FULL', message: `the Ollama daemon at ${fake.url} answered 503: server busy` });
  answer(500, { error: 'llama runner process has terminated' });
  await t.rejects(collect(engine.generate(generateRequest())), {
    code: 'OD_ERR_INTERNAL',
    message: `the Ollama daemon at ${fake.url} answered 500: llama runner process has terminated`,
  });

  fake.routes.set('POST /api/generate', (_request, response) => ndjsonLines(response, [{ response: 'a', done: false }, { error: 'out of memory' }]));
  const events: RunEvent[] = [];
  await t.rejects(
    (async () => {
      for await (const event of engine.generate(generateRequest())) events.push(event);
    })(),
    { code: 'OD_ERR_INTERNAL', message: `the Ollama daemon at ${fake.url} failed: out of memory` },
  );
  t.same(events, [{ type: 'token', text: 'a' }], 'the text before the error line was delivered');

  fake.routes.set('POST /api/generate', (_request, response) => ndjsonLines(response, [{ response: 'a', done: false }]));
  await t.rejects(collect(engine.generate(generateRequest())), { message: /ended the stream without its final chunk/ });
  fake.routes.set('POST /api/generate', (_request, response) => {
    response.writeHead(200);
    response.end('{"response": "a", "do\n');
  });
  await t.rejects(collect(engine.generate(generateRequest())), { code: 'OD_ERR_INTERNAL', message: /sent a line that is not JSON/ });
});

t.test('a daemon that is down fails start with the URL and the setting to fix', async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const engine = build(url);
  await t.rejects(async () => engine.start(), { code: 'OD_ERR_PLUGIN_START', message: new RegExp(`^no Ollama answers at ${url} \\(engine\\.ollama\\.url\\): connect ECONNREFUSED`) });
  await engine.stop();
  t.same(engine.loaded(), [], 'nothing loaded');

  const fake = await FakeDaemon.start();
  t.teardown(() => fake.close());
  fake.routes.set('GET /api/version', (_request, response) => {
    response.writeHead(404);
    response.end('404 page not found');
  });
  await t.rejects(async () => build(fake.url).start(), { message: `the server at ${fake.url} (engine.ollama.url) does not answer GET /api/version as Ollama does: 404 page not found` });
});

t.test('a daemon that goes away after start fails requests clearly', async (t) => {
  const fake = await FakeDaemon.start();
  const engine = build(fake.url);
  await engine.start();
  t.teardown(() => engine.stop());
  await fake.close();
  await t.rejects(collect(engine.generate(generateRequest())), { code: 'OD_ERR_INTERNAL', message: new RegExp(`^no Ollama answers at ${fake.url}: `) });
});

t.test('aborting a stream cancels the HTTP request at once; stop() aborts streams too', async (t) => {
  const { engine, fake } = await onFake(t);
  let closed = 0;
  fake.routes.set('POST /api/generate', (request, response, raw) => {
    if (request.body.prompt === '') return fake.answer(request, response);
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    response.write(`${JSON.stringify({ response: 'a', done: false })}\n`);
    raw.socket.on('close', () => closed++);
  });
  const controller = new AbortController();
  let abortedAt = 0;
  const error = await (async () => {
    for await (const event of engine.generate(generateRequest({ signal: controller.signal }))) {
      if (event.type === 'token') {
        abortedAt = performance.now();
        controller.abort();
      }
    }
  })().catch((error: unknown) => error);
  t.equal((error as Error).name, 'AbortError');
  t.ok(performance.now() - abortedAt < 1000, 'the stream ended within 1000 ms');
  t.ok(await eventually(() => closed === 1, 1000), 'the daemon saw the request go away');

  const running = collect(engine.generate(generateRequest())).catch((error: unknown) => error);
  await eventually(() => fake.calls('POST /api/generate').length === 2, 1000);
  await engine.stop();
  t.equal(((await running) as Error).name, 'AbortError', 'stop() aborts a running stream');
  t.ok(await eventually(() => closed === 2, 1000), 'and its request');
});

t.test('loaded() mirrors /api/ps with this engine’s digests and running requests; gpus() and estimates follow size_vram', async (t) => {
  const { engine, fake } = await onFake(t);
  const details = { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '1K', quantization_level: 'F32' };
  const entry = (name: string, sizeVram: number) => ({
    name,
    model: name,
    digest: 'f'.repeat(64),
    size: 1000,
    size_vram: sizeVram,
    expires_at: '2030-01-01T00:00:00.123456789Z',
    context_length: 2048,
    details,
  });
  fake.ps = [entry('tiny:latest', 0), entry('other:latest', 0)];
  let release = () => {};
  fake.routes.set('POST /api/generate', (request, response) => {
    if (request.body.prompt === '') return fake.answer(request, response);
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    response.write(`${JSON.stringify({ response: 'a', done: false })}\n`);
    release = () => response.end(`${JSON.stringify({ done: true })}\n`);
  });
  const stream = engine.generate(generateRequest())[Symbol.asyncIterator]();
  t.same((await stream.next()).value, { type: 'token', text: 'a' });
  t.equal(engine.loaded().length, 2, 'the first chunk brought the cache up to date');
  const [tiny, other] = engine.loaded();
  t.same(tiny, {
    name: 'tiny:latest',
    digest: model.digest,
    size: 1000,
    sizeVram: 0,
    contextLength: 2048,
    expiresAt: new Date('2030-01-01T00:00:00.123Z'),
    details,
    activeRequests: 1,
  });
  t.equal(other?.digest, `sha256:${'f'.repeat(64)}`, 'a model this engine did not put there keeps the daemon digest');
  t.equal(other?.activeRequests, 0);
  t.same(await engine.gpus(), [], 'no VRAM in use: no GPU known');
  t.equal((await engine.estimateMemory(model, {})).vram, 0);
  release();
  t.equal((await stream.next()).value?.type, 'done');
  t.equal((await stream.next()).done, true);
  t.equal(engine.loaded()[0]?.activeRequests, 0, 'the request ended');

  // Past the refresh that follows the request, only the timer brings the change in.
  await new Promise((resolve) => setTimeout(resolve, 100));
  fake.ps = [entry('tiny:latest', 600), entry('other:latest', 400)];
  t.ok(await eventually(() => engine.loaded()[0]?.sizeVram === 600, 2500), 'the timer refreshes the cache');
  t.same(await engine.gpus(), [{ id: 'ollama', name: `GPUs of the Ollama daemon at ${fake.url}`, backend: 'ollama', vramTotal: 1000, vramFree: 0 }]);
  const estimate = await engine.estimateMemory(model, { num_ctx: 1000 });
  // 2 layers x 1000 positions x 4 KV heads x (16 + 16) values x 2 bytes
  t.same(estimate, { total: gguf.size + 512_000, vram: gguf.size + 512_000 });
});

t.test('load() loads with an empty prompt; unload() waits for /api/ps to drop the model', async (t) => {
  const { engine, fake } = await onFake(t);
  fake.routes.set('POST /api/generate', (request, response) => {
    fake.ps = request.body.keep_alive === 0 ? [] : [{ name: 'tiny:latest', size: 10, expires_at: new Date(Date.now() + 60_000).toISOString() }];
    fake.answer(request, response);
  });
  const nanos = await engine.load(model, 60_000, signal());
  t.ok(nanos > 0, 'the load time is measured when Ollama reports none');
  t.same(fake.calls('POST /api/generate')[0]?.body, { model: 'tiny:latest', prompt: '', keep_alive: '60000ms', stream: false });
  t.equal(engine.loaded()[0]?.name, 'tiny:latest', 'loaded() has it when load() resolves');
  await engine.unload('tiny:latest');
  t.same(fake.calls('POST /api/generate')[1]?.body, { model: 'tiny:latest', prompt: '', keep_alive: 0, stream: false });
  t.same(engine.loaded(), []);
  fake.routes.set('POST /api/generate', (_request, response) => {
    response.writeHead(404);
    response.end(JSON.stringify({ error: "model 'missing' not found" }));
  });
  await engine.unload('missing:latest');
  t.pass('unloading a model the daemon does not know is a no-op');
});

t.test('after stop() nothing of the engine keeps the event loop alive', { skip: typescriptLoader ? false : 'needs the tap TypeScript loader' }, async (t) => {
  const fake = await FakeDaemon.start();
  t.teardown(() => fake.close());
  fake.routes.set('POST /api/generate', (request, response) => {
    if (request.body.prompt !== 'hang') return fake.answer(request, response);
    response.writeHead(200, { 'content-type': 'application/x-ndjson' });
    response.write(`${JSON.stringify({ response: 'a', done: false })}\n`);
  });
  const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    const { ollamaEngine } = await import(${module('./index.js')});
    const { loadConfig } = await import(${module('../../core/config/load.js')});
    const { silentLogger } = await import(${module('../../core/log.js')});
    const { config } = loadConfig({ env: { OLLAMA_ENGINE_OLLAMA_URL: process.env.DAEMON } });
    const engine = ollamaEngine(config.engine)({ logger: silentLogger(), config });
    const model = JSON.parse(process.env.MODEL);
    const request = (prompt) => ({ model, prompt, raw: false, options: {}, keepAliveMs: 60000, signal: new AbortController().signal });
    await engine.start();
    for await (const _ of engine.generate(request('hi')));
    await engine.load(model, -1, new AbortController().signal);
    const hanging = (async () => { for await (const _ of engine.generate(request('hang'))); })().catch((error) => error.name);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await engine.stop();
    console.log(await hanging, 'stopped');
  `;
  const started = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [typescriptLoader!, '--input-type=module', '-e', script], {
    env: { ...process.env, DAEMON: fake.url, MODEL: JSON.stringify(model) },
    timeout: 15_000,
  });
  t.equal(stdout.trim(), 'AbortError stopped', 'the hanging stream was aborted');
  t.ok(performance.now() - started < 15_000, 'the process ended on its own');
});

t.test('against a real daemon', async (t) => {
  const daemon = await startTestNode({
    env: { OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off', OLLAMA_CONTEXT_LENGTH: '2048', OLLAMA_NUM_THREAD: '1' },
  });
  t.teardown(() => daemon.stop());

  t.test('a model removed from the daemon is a 404 once, then put back', async (t) => {
    const engine = build(daemon.url);
    await engine.start();
    t.teardown(() => engine.stop());
    const spec: ModelSpec = tinyModelSpec(gguf, 'gone:latest');
    await collect(engine.generate(generateRequest({ model: spec, keepAliveMs: 0 })));
    const removed = await fetch(`${daemon.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: 'gone' }) });
    t.equal(removed.status, 200);
    await t.rejects(collect(engine.generate(generateRequest({ model: spec }))), { code: 'OD_ERR_MODEL_NOT_FOUND', message: /gone/ });
    const done = (await collect(engine.generate(generateRequest({ model: spec })))).at(-1);
    t.equal(done?.type, 'done', 'the next run creates it again');
  });

  t.test('a node with OLLAMA_ENGINE=ollama serves its own store’s models on the daemon', async (t) => {
    const node = await startTestNode({ env: { OLLAMA_ENGINE: 'ollama', OLLAMA_ENGINE_OLLAMA_URL: daemon.url } });
    let stopped = false;
    t.teardown(() => (stopped ? undefined : node.stop()));
    await createTiny(node.url, 'e2e', { system: 'Be brief.' });
    t.same((await getJson(daemon.url, '/api/tags')).models.map((m: { name: string }) => m.name).includes('e2e:latest'), false, 'the daemon does not have it yet');

    const answer = await postJson(node.url, '/api/generate', { model: 'e2e', prompt: 'Hello', stream: false, options: { num_predict: 4, seed: 1, temperature: 0 } });
    t.equal(answer.status, 200);
    t.equal(answer.body.done, true);
    t.ok(answer.body.eval_count > 0 && answer.body.eval_count <= 4, 'the daemon generated');

    const onDaemon = await postJson(daemon.url, '/api/show', { model: 'e2e' });
    t.equal(onDaemon.body.system, 'Be brief.', 'created on the daemon with the system prompt of the node’s model');
    const daemonPs = await getJson(daemon.url, '/api/ps');
    t.same(daemonPs.models.map((m: { name: string }) => m.name), ['e2e:latest'], 'the model runs on the daemon');
    const nodeModel = (await getJson(node.url, '/api/tags')).models.find((m: { name: string }) => m.name === 'e2e:latest');
    const nodePs = await getJson(node.url, '/api/ps');
    t.same(nodePs.models.map((m: { name: string; digest: string }) => [m.name, m.digest]), [['e2e:latest', nodeModel.digest]], "the node's /api/ps shows it with the node's digest");

    await node.stop();
    stopped = true;
    t.same((await getJson(daemon.url, '/api/ps')).models, [], 'stopping the node unloads its models from the daemon');
  });
});
