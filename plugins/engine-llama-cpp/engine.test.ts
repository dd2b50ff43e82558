import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { THINKING_TEMPLATE, TOOL_CALL_FORMAT, TOOL_CALL_PREAMBLE, TOOL_TEMPLATE, WEATHER_TOOLS } from '../../conformance/fixtures/templates.js';
import { TINY_THINKING_CHAT_TEMPLATE, tinyModelSpec, writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { loadConfig } from '../../core/config/load.js';
import type { NodeConfig } from '../../core/config/schema.js';
import type { ChatRequest, Engine, GenerateRequest, ModelSpec, RunEvent } from '../../core/contracts/engine.js';
import { ProductError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { llamaCpp, meta } from './index.js';

// node-llama-cpp checks its binary in a forked process on every start; inheriting tap's loader
// hooks makes each fork take seconds. The fork needs none of them.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const { config } = loadConfig({ env: {} });
const dir = await mkdtemp(join(tmpdir(), 'engine-llama-cpp-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const gguf = await writeTinyGguf(join(dir, 'tiny.gguf'));
const model = tinyModelSpec(gguf);

type Done = Extract<RunEvent, { type: 'done' }>;

/** GPUs as the driver lists them, independent of the engine: none where nvidia-smi is missing. */
function machineGpuCount(): number {
  try {
    return execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).split('\n').filter((line) => line.startsWith('GPU ')).length;
  } catch {
    return 0;
  }
}
const MACHINE_GPUS = machineGpuCount();

function build(engine: Partial<NodeConfig['engine']> = {}): Engine {
  // 2048 tokens fit a chat format's framing in a byte-level vocabulary; one thread avoids contention.
  const section = { ...config.engine, ...engine, llama_cpp: { ...config.engine.llama_cpp, num_ctx: 2048, threads: 1 } };
  return llamaCpp(section)({ logger: silentLogger(), config });
}

const signal = () => new AbortController().signal;
const generateRequest = (overrides: Partial<GenerateRequest> = {}): GenerateRequest => ({
  model,
  prompt: 'Why is the sky blue?',
  raw: false,
  options: { num_predict: 16, seed: 1 },
  keepAliveMs: 60_000,
  signal: signal(),
  ...overrides,
});
const chatRequest = (overrides: Partial<ChatRequest> = {}): ChatRequest => ({
  model,
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello!' },
  ],
  options: { num_predict: 8, seed: 1 },
  keepAliveMs: 60_000,
  signal: signal(),
  ...overrides,
});

async function run(stream: AsyncIterable<RunEvent>) {
  const events: RunEvent[] = [];
  for await (const event of stream) events.push(event);
  const tokens = events.filter((e) => e.type === 'token');
  const text = tokens.map((e) => e.text).join('');
  return { events, tokens, text, done: events.at(-1) as Done };
}

/** The shape every finished run has: one done event, last, with counts matching what was streamed. */
function checkDone(t: Test, result: Awaited<ReturnType<typeof run>>) {
  t.equal(result.events.filter((e) => e.type === 'done').length, 1, 'one done event');
  t.equal(result.done.type, 'done', 'done comes last');
  t.ok(['stop', 'length'].includes(result.done.doneReason), `done reason ${result.done.doneReason}`);
  t.ok(result.done.promptEvalCount > 0, 'prompt tokens were evaluated');
  t.ok(result.done.evalCount >= result.tokens.length, 'evalCount covers every token event');
  t.ok(result.tokens.length > 0 || result.done.evalCount <= 1, 'tokens were streamed unless the model ended at once');
  for (const key of ['loadDuration', 'promptEvalDuration', 'evalDuration'] as const) t.ok(result.done[key] >= 0, `${key} >= 0`);
}

const engine = build();
await engine.start();
t.teardown(() => engine.stop());

t.test('meta and factory match what the kernel loads', async (t) => {
  t.same(meta, { name: 'llama-cpp', kind: 'engine', provides: ['engine'], requires: ['logger', 'config'] });
  t.equal(engine.name, 'llama-cpp');
});

t.test('generate streams tokens, then one done event with the context', async (t) => {
  const result = await run(engine.generate(generateRequest()));
  checkDone(t, result);
  t.ok(result.done.context && result.done.context.length === result.done.promptEvalCount + result.done.evalCount, 'context = prompt + output');
});

t.test('the same seed and temperature give the same text', async (t) => {
  const request = () => generateRequest({ prompt: 'Once upon a time', raw: true, options: { seed: 123, temperature: 0.9, num_predict: 24 } });
  const first = await run(engine.generate(request()));
  const second = await run(engine.generate(request()));
  t.equal(second.text, first.text);
  t.equal(second.done.evalCount, first.done.evalCount);
});

t.test("num_predict 1 ends after one token with 'length' or 'stop'", async (t) => {
  const result = await run(engine.generate(generateRequest({ options: { num_predict: 1, seed: 2 } })));
  checkDone(t, result);
  t.ok(result.done.evalCount <= 1);
});

t.test('a stop string cuts the output before it', async (t) => {
  const options = { seed: 5, temperature: 0, num_predict: 32 };
  const free = await run(engine.generate(generateRequest({ raw: true, prompt: 'abc', options })));
  const clean = [...free.text.matchAll(/[^\uFFFD]{2}/g)].find((m) => m.index > 0);
  if (!clean) return t.plan(0, `the model wrote too little to pick a stop string from: ${JSON.stringify(free.text)}`);
  const stop = clean[0];
  const cut = await run(engine.generate(generateRequest({ raw: true, prompt: 'abc', options: { ...options, stop: [stop] } })));
  t.equal(cut.text, free.text.slice(0, free.text.indexOf(stop)));
  t.equal(cut.done.doneReason, 'stop');
});

t.test('context from one generate continues in the next, reusing the cache', async (t) => {
  const first = await run(engine.generate(generateRequest({ raw: true, prompt: 'The first part.' })));
  const next = await run(engine.generate(generateRequest({ raw: true, prompt: ' More.', context: first.done.context! })));
  checkDone(t, next);
  t.ok(next.done.promptEvalCount > first.done.context!.length, `the whole prompt is counted, the cached context included (${next.done.promptEvalCount})`);
});

t.test("format 'json' and a JSON schema constrain the output", async (t) => {
  const json = await run(engine.generate(generateRequest({ format: 'json', options: { num_predict: 12, seed: 3 } })));
  t.match(json.text.trimStart(), /^\{/, 'json starts an object');
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
  const shaped = await run(engine.generate(generateRequest({ format: schema, options: { num_predict: 12, seed: 3 } })));
  t.match(shaped.text.replace(/\s/g, ''), /^\{("a|"$|$)/, 'the schema starts with its required key');
  await t.rejects(run(engine.generate(generateRequest({ format: { type: 'object', properties: { x: { enum: 'x' } } } }))), {
    code: 'OD_ERR_BAD_REQUEST',
  });
});

t.test('an Ollama template with .Suffix gives insert; without one, suffix is refused', async (t) => {
  const fim = tinyModelSpec(gguf, 'tiny-fim:latest', { template: '<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>' });
  t.ok((await engine.capabilities(fim)).includes('insert'));
  checkDone(t, await run(engine.generate(generateRequest({ model: fim, prompt: 'def f(', suffix: '  return 1', options: { num_predict: 4 } }))));
  await t.rejects(run(engine.generate(generateRequest({ suffix: 'x' }))), { code: 'OD_ERR_UNSUPPORTED' });
  await engine.unload(fim.name);
});

t.test("an empty prompt only loads the model: done reason 'load'", async (t) => {
  const result = await run(engine.generate(generateRequest({ prompt: '' })));
  t.equal(result.events.length, 1);
  t.equal(result.done.doneReason, 'load');
});

t.test("chat goes through the model's own chat template", async (t) => {
  checkDone(t, await run(engine.chat(chatRequest())));
  const continued = await run(
    engine.chat(chatRequest({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hel' }], options: { num_predict: 4 } })),
  );
  checkDone(t, continued);
});

t.test('chat delivers every generated token: bytes that are not UTF-8 arrive as U+FFFD', async (t) => {
  // Random weights emit lone UTF-8 continuation bytes often; a run that ends on them once came back empty.
  let empty = 0;
  for (let seed = 0; seed < 80; seed++) {
    const result = await run(engine.chat(chatRequest({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hel' }], options: { num_predict: 4, seed } })));
    if (result.done.evalCount > 0 && result.text === '') empty++;
  }
  t.equal(empty, 0, 'no run with generated tokens streamed no text');
});

t.test('chat with tools offers them as functions', async (t) => {
  t.ok((await engine.capabilities(model)).includes('tools'), "the tiny model's chat template handles tools");
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const result = await run(engine.chat(chatRequest({ tools, options: { num_predict: 8, seed: 4 } })));
  checkDone(t, result);
  t.ok(result.events.every((e) => ['token', 'tool_calls', 'done'].includes(e.type)));
  t.ok(result.done.promptEvalCount > 200, 'the function definitions are in the prompt');
});

t.test('chat through an Ollama template, with tools', async (t) => {
  const template =
    '{{ if .Tools }}<|im_start|>system\n{{ range .Tools }}{{ json . }}\n{{ end }}<|im_end|>\n{{ end }}' +
    '{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n';
  const templated = tinyModelSpec(gguf, 'tiny-templated:latest', { template, system: 'You are tiny.' });
  const tools = [{ type: 'function' as const, function: { name: 'now' } }];
  const result = await run(engine.chat(chatRequest({ model: templated, tools, options: { num_predict: 6, stop: ['<|im_end|>'] } })));
  checkDone(t, result);
  const broken = tinyModelSpec(gguf, 'tiny-broken:latest', { template: '{{ if .Messages }}' });
  await t.rejects(run(engine.chat(chatRequest({ model: broken }))), { code: 'OD_ERR_BAD_REQUEST' });
  await engine.unload(templated.name);
  await engine.unload(broken.name);
});

t.test('a model whose Ollama template renders .Thinking thinks: with think on, what it writes is thinking', async (t) => {
  const thinker = tinyModelSpec(gguf, 'tiny-thinker:latest', { template: THINKING_TEMPLATE });
  t.ok((await engine.capabilities(thinker)).includes('thinking'));
  const kinds = (result: Awaited<ReturnType<typeof run>>) => [...new Set(result.events.map((e) => e.type))];
  // The prompt ends inside <think>: random weights never close it, so all of the output is thinking.
  const on = await run(engine.chat(chatRequest({ model: thinker, think: true })));
  t.same(kinds(on), ['thinking', 'done'], 'chat, think on');
  t.ok(on.done.evalCount > 0);
  const off = await run(engine.chat(chatRequest({ model: thinker, think: false })));
  t.same(kinds(off), ['token', 'done'], 'chat, think off: the template closes the block and the model answers');
  t.same(kinds(await run(engine.generate(generateRequest({ model: thinker, think: 'high' })))), ['thinking', 'done'], 'generate, a level');
  t.same(kinds(await run(engine.generate(generateRequest({ model: thinker })))), ['token', 'done'], 'think unset: the engine does not split');
  await engine.unload(thinker.name);
});

t.test('a GGUF chat template with <think> thinks; a reply that does not open the block is the answer', async (t) => {
  const file = await writeTinyGguf(join(dir, 'tiny-thinking.gguf'), { chatTemplate: TINY_THINKING_CHAT_TEMPLATE });
  const thinker = tinyModelSpec(file, 'tiny-gguf-thinker:latest');
  t.ok((await engine.capabilities(thinker)).includes('thinking'));
  t.notOk((await engine.capabilities(model)).includes('thinking'), 'the plain tiny model does not think');
  // node-llama-cpp leaves <think> for the model to write; random weights never do.
  const result = await run(engine.chat(chatRequest({ model: thinker, think: true })));
  checkDone(t, result);
  t.notOk(result.events.some((e) => e.type === 'thinking'), 'no thinking without the tag');
  await engine.unload(thinker.name);
});

t.test('with tools through an Ollama template, text streams as generated and calls follow as they complete', async (t) => {
  const tooler = tinyModelSpec(gguf, 'tiny-tooler:latest', { template: TOOL_TEMPLATE });
  const tools = WEATHER_TOOLS as ChatRequest['tools'];
  const plain = await run(engine.chat(chatRequest({ model: tooler, tools, options: { num_predict: 16, seed: 1 } })));
  t.ok(plain.tokens.length > 1, `a reply that is no call streams in ${plain.tokens.length} pieces`);
  t.notOk(plain.events.some((e) => e.type === 'tool_calls'));

  const called = await run(engine.chat(chatRequest({ model: tooler, tools, format: TOOL_CALL_FORMAT, options: { num_predict: 300, temperature: 0 } })));
  const firstCall = called.events.findIndex((e) => e.type === 'tool_calls');
  const before = called.events.slice(0, firstCall).filter((e) => e.type === 'token');
  t.ok(before.length > 1, `the text before the calls streamed in ${before.length} pieces`);
  t.match(before.map((e) => e.text).join(''), new RegExp(`"say"\\s*:\\s*"${TOOL_CALL_PREAMBLE}"`));
  const calls = called.events.flatMap((e) => (e.type === 'tool_calls' ? e.calls : []));
  t.same(calls, [
    { function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } },
    { function: { index: 1, name: 'get_time', arguments: {} } },
  ]);
  t.equal(called.tokens.length, before.length, 'nothing after the tag reaches the answer');
  await engine.unload(tooler.name);
});

t.test('embed returns one normalised 64-dimension vector per input', async (t) => {
  const result = await engine.embed({ model, input: ['The sky is blue.', 'Grass is green.', ''], truncate: true, options: {}, keepAliveMs: 60_000, signal: signal() });
  t.equal(result.embeddings.length, 3);
  for (const vector of result.embeddings) {
    t.equal(vector.length, 64);
    t.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-6, 'unit length');
  }
  t.not(result.embeddings[0]!.join(), result.embeddings[1]!.join(), 'different inputs, different vectors');
  t.ok(result.promptEvalCount >= 'The sky is blue.'.length + 'Grass is green.'.length);
});

t.test('an input longer than the context is cut, or refused when truncate is false', async (t) => {
  const small = tinyModelSpec(gguf, 'tiny-small:latest', { parameters: { num_ctx: 256 } });
  const long = 'x'.repeat(600);
  const request = (truncate: boolean) => ({ model: small, input: [long], truncate, options: {}, keepAliveMs: 0, signal: signal() });
  const cut = await engine.embed(request(true));
  t.equal(cut.embeddings[0]!.length, 64);
  t.ok(cut.promptEvalCount <= 256);
  const refused = await engine.embed(request(false)).catch((error: unknown) => error);
  t.ok(refused instanceof ProductError);
  t.match(refused, { code: 'OD_ERR_BAD_REQUEST', message: 'the input length exceeds the context length' });
});

t.test('aborting mid-stream ends it with an AbortError; the engine stays usable', async (t) => {
  const controller = new AbortController();
  const seen: RunEvent[] = [];
  const error = await (async () => {
    for await (const event of engine.generate(generateRequest({ format: 'json', options: { num_predict: 10_000 }, signal: controller.signal }))) {
      seen.push(event);
      controller.abort();
    }
  })().catch((e: unknown) => e);
  t.match(error, { name: 'AbortError' });
  t.notOk(seen.some((e) => e.type === 'done'), 'no done event');
  checkDone(t, await run(engine.generate(generateRequest({ options: { num_predict: 2 } }))));
});

t.test('loaded() describes models, counts running requests and shows expiry', async (t) => {
  let during: number | undefined;
  for await (const event of engine.generate(generateRequest({ keepAliveMs: 30_000 }))) {
    if (event.type === 'token') during ??= engine.loaded().find((m) => m.name === model.name)?.activeRequests;
  }
  t.equal(during, 1, 'one running request');
  const entry = engine.loaded().find((m) => m.name === model.name)!;
  t.equal(entry.digest, model.digest);
  t.equal(entry.contextLength, 2048);
  t.ok(entry.size > gguf.size, 'weights plus context');
  if (MACHINE_GPUS === 0) t.equal(entry.sizeVram, 0, 'no GPU here: nothing in VRAM');
  else t.ok(entry.sizeVram > 0, `${MACHINE_GPUS} GPU(s) here: the model and context sit in VRAM`);
  t.equal(entry.activeRequests, 0);
  t.ok(Math.abs(entry.expiresAt.getTime() - (Date.now() + 30_000)) < 5_000, 'expires keep_alive after the request');
  t.same(entry.details, model.details);
});

t.test('keep_alive 0 unloads the model right after the request', async (t) => {
  await engine.unload(model.name);
  await run(engine.generate(generateRequest({ keepAliveMs: 0, options: { num_predict: 2 } })));
  t.same(engine.loaded(), []);
  await engine.load(model, -1, signal());
  t.ok(engine.loaded()[0]!.expiresAt.getTime() > Date.now() + 100 * 365 * 86_400_000, 'negative keep_alive never expires');
  await engine.unload(model.name);
  t.same(engine.loaded(), []);
});

t.test('estimateMemory, gpus and capabilities', async (t) => {
  const estimate = await engine.estimateMemory(model, { num_ctx: 2048 });
  t.ok(estimate.total >= model.modelSize);
  const gpus = await engine.gpus();
  t.equal(gpus.length, MACHINE_GPUS, `gpu: auto finds the ${MACHINE_GPUS} GPU(s) nvidia-smi lists`);
  if (MACHINE_GPUS === 0) t.equal(estimate.vram, 0, 'nothing for VRAM without a GPU');
  else t.ok(estimate.vram > 0 && estimate.vram <= estimate.total, 'part of the estimate goes to VRAM');
  t.same(await engine.capabilities(model), ['tools', 'completion']);
});

t.test('the cap on loaded models unloads the least recently used idle model, or waits', async (t) => {
  const capped = build({ max_loaded_models: 2, num_parallel: 2 });
  await capped.start();
  t.teardown(() => capped.stop());
  const [a, b, c] = ['a', 'b', 'c'].map((name) => tinyModelSpec(gguf, `${name}:latest`)) as [ModelSpec, ModelSpec, ModelSpec];
  const names = () => capped.loaded().map((m) => m.name).sort();
  await capped.load(a, 60_000, signal());
  await capped.load(b, 60_000, signal());
  await run(capped.generate(generateRequest({ model: a, options: { num_predict: 1 } })));
  await capped.load(c, 60_000, signal());
  t.same(names(), ['a:latest', 'c:latest'], 'b was the least recently used');

  // Two streams held open on a and c: nothing is idle, so loading b must wait.
  const streamA = capped.generate(generateRequest({ model: a, format: 'json', options: { num_predict: 10_000 } }))[Symbol.asyncIterator]();
  const streamC = capped.generate(generateRequest({ model: c, format: 'json', options: { num_predict: 10_000 } }))[Symbol.asyncIterator]();
  await streamA.next();
  await streamC.next();
  const secondOnA = capped.generate(generateRequest({ model: a, format: 'json', options: { num_predict: 10_000 } }))[Symbol.asyncIterator]();
  t.equal((await secondOnA.next()).value?.type, 'token', 'num_parallel 2 runs a second request on a at once');
  let bLoaded = false;
  const loadingB = capped.load(b, 60_000, signal()).then(() => (bLoaded = true));
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.notOk(bLoaded, 'b waits while a and c are busy');
  await streamC.return!();
  await loadingB;
  t.same(names(), ['a:latest', 'b:latest'], 'c went once idle');
  await streamA.return!();
  await secondOnA.return!();
});

t.test('stop() disposes everything and leaves no timer behind', async (t) => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const stopping = build();
  await stopping.start();
  await run(stopping.generate(generateRequest({ keepAliveMs: 60_000, options: { num_predict: 2 } })));
  t.ok(timers() > before, 'the keep-alive timer runs');
  await stopping.stop();
  t.equal(timers(), before, 'stop cleared it');
  t.same(stopping.loaded(), []);
  await stopping.stop();
  await t.rejects(run(stopping.generate(generateRequest())), { code: 'OD_ERR_INTERNAL' }, 'a stopped engine refuses work');
});

t.test('stop() ends a run in flight with its reason', async (t) => {
  const stopping = build();
  await stopping.start();
  const events = stopping.generate(generateRequest({ options: { num_predict: 100_000, temperature: 0 } }))[Symbol.asyncIterator]();
  t.equal((await events.next()).value?.type, 'token', 'the run is under way');
  const stopped = stopping.stop();
  const rest = async () => {
    for (let next = await events.next(); !next.done; next = await events.next()) if (next.value.type === 'done') return next.value.doneReason;
    return 'ended without done';
  };
  await t.rejects(rest(), { code: 'OD_ERR_INTERNAL', message: 'the engine is stopping' });
  await stopped;
});
