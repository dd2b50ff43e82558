import t, { type Test } from 'tap';
import { loadConfig } from '../../core/config/load.js';
import type { NodeConfig } from '../../core/config/schema.js';
import type { Engine, GenerateRequest, ModelSpec, RunEvent } from '../../core/contracts/engine.js';
import { silentLogger } from '../../core/log.js';
import { sim } from './index.js';
import { simModel } from './model-spec.js';

const { config } = loadConfig({ env: {} });
/** Short timings, and no slowdown between slots so expected times are easy sums; MODEL loads in 6 ms. */
const FAST = { load_ms: 5, load_bytes_per_second: 2 ** 20 * 1000, ttft_ms: 1, prompt_tokens_per_second: 1e6, tokens_per_second: 500, parallel_slowdown: 0, response_tokens: 8 };
const MODEL = simModel('sim-small:latest', 2 ** 20);

function startEngine(t: Test, options: Record<string, unknown> = {}, engine: Partial<NodeConfig['engine']> = {}): Engine {
  const built = sim({ ...config.engine, ...engine, options: { ...FAST, ...options } })({ logger: silentLogger(), config });
  built.start();
  t.teardown(() => built.stop());
  return built;
}

function request(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return { model: MODEL, prompt: 'Why is the sky blue?', raw: false, options: {}, keepAliveMs: 60_000, signal: new AbortController().signal, ...overrides };
}

type Done = Extract<RunEvent, { type: 'done' }>;

/** The run's text, done event, and when (performance.now) its first token and its done event came. */
async function run(stream: AsyncIterable<RunEvent>) {
  let text = '';
  let firstTokenAt = Infinity;
  let done: Done | undefined;
  for await (const event of stream) {
    if (event.type === 'token') {
      firstTokenAt = Math.min(firstTokenAt, performance.now());
      text += event.text;
    }
    if (event.type === 'done') done = event;
  }
  return { text, done: done!, firstTokenAt, doneAt: performance.now() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const names = (engine: Engine) => engine.loaded().map((model) => model.name);

t.test('reported durations follow the timing model and wall time matches them', async (t) => {
  const engine = startEngine(t, { load_ms: 19, ttft_ms: 5, prompt_tokens_per_second: 1000, tokens_per_second: 200, response_tokens: 10 });
  const started = performance.now();
  const { done, doneAt } = await run(engine.generate(request({ prompt: 'one two three four' })));
  t.equal(done.loadDuration, 20e6, 'load: load_ms + 1 MiB at 1 GB/s');
  t.equal(done.promptEvalCount, 5, 'four words and the start token');
  t.equal(done.promptEvalDuration, 10e6, 'ttft_ms + 5 tokens at 1000/s');
  t.equal(done.evalCount, 10, 'response_tokens');
  t.equal(done.evalDuration, 50e6, '10 tokens at 200/s');
  const wall = doneAt - started;
  t.ok(wall >= 79.9, `wall time ${wall.toFixed(1)} ms is never below the simulated 80 ms`);
  // Generous: a loaded test machine stalls timers; a chain of timers without deadlines would drift far more.
  t.ok(wall < 80 + 200, `wall time ${wall.toFixed(1)} ms stays near the simulated 80 ms`);
});

t.test('load time grows with model size', async (t) => {
  const engine = startEngine(t, { load_ms: 1, load_bytes_per_second: 1e9 });
  t.equal(await engine.load(simModel('small:latest', 1e6), -1, new AbortController().signal), 2e6);
  t.equal(await engine.load(simModel('big:latest', 2e7), -1, new AbortController().signal), 21e6);
  t.equal(await engine.load(simModel('big:latest', 2e7), -1, new AbortController().signal), 0, 'a loaded model costs nothing');
});

t.test('two slots, three requests: the third waits for a free slot', async (t) => {
  const engine = startEngine(t, { response_tokens: 15 }, { num_parallel: 2 });
  await engine.load(MODEL, -1, new AbortController().signal);
  const runs = [1, 2, 3].map((seed) => run(engine.generate(request({ options: { seed } }))));
  await sleep(10);
  t.equal(engine.loaded()[0]?.activeRequests, 2, 'two requests run at once');
  const [first, second, third] = await Promise.all(runs);
  t.ok(third!.firstTokenAt >= Math.min(first!.doneAt, second!.doneAt) - 1, 'the third starts when one of the first two ends');
  t.ok(first!.firstTokenAt < second!.doneAt && second!.firstTokenAt < first!.doneAt, 'the first two run side by side');
  t.equal(engine.loaded()[0]?.activeRequests, 0);
});

t.test('busy slots slow each other by parallel_slowdown', async (t) => {
  const engine = startEngine(t, { parallel_slowdown: 1, response_tokens: 4 }, { num_parallel: 2 });
  await engine.load(MODEL, -1, new AbortController().signal);
  const alone = await run(engine.generate(request()));
  const [a, b] = await Promise.all([run(engine.generate(request({ prompt: 'a' }))), run(engine.generate(request({ prompt: 'b' })))]);
  t.equal(alone.done.evalDuration, 8e6, '4 tokens at 500/s');
  t.ok(a!.done.evalDuration > alone.done.evalDuration && b!.done.evalDuration > alone.done.evalDuration, 'shared slots decode slower');
});

t.test('a repeated prompt prefix skips its evaluation, so the first token comes sooner', async (t) => {
  const prompt = Array.from({ length: 200 }, (_, index) => `word${index}`).join(' ');
  const timings = { prompt_tokens_per_second: 4000, response_tokens: 2 };
  const engine = startEngine(t, timings);
  await engine.load(MODEL, -1, new AbortController().signal);
  const timeToFirstToken = async (engine: Engine, prompt: string) => {
    const started = performance.now();
    const result = await run(engine.generate(request({ prompt })));
    return { ...result, ttft: result.firstTokenAt - started };
  };
  const cold = await timeToFirstToken(engine, prompt);
  const warm = await timeToFirstToken(engine, `${prompt} and one more question`);
  t.equal(cold.done.promptEvalCount, 201);
  t.equal(warm.done.promptEvalCount, 205, 'the whole prompt is counted, its cached prefix included');
  t.ok(warm.done.promptEvalDuration < cold.done.promptEvalDuration, 'only what follows the cached prefix is evaluated');
  t.ok(warm.ttft < cold.ttft, `time to first token ${warm.ttft.toFixed(1)} ms < ${cold.ttft.toFixed(1)} ms`);

  const uncached = startEngine(t, { ...timings, prompt_cache: false });
  await run(uncached.generate(request({ prompt })));
  const again = await run(uncached.generate(request({ prompt })));
  t.equal(again.done.promptEvalCount, 201, 'prompt_cache false evaluates every token');
  t.ok(again.done.promptEvalDuration > warm.done.promptEvalDuration, 'prompt_cache false takes the whole prompt\'s time');
});

t.test('chat turns extend the cached conversation', async (t) => {
  const engine = startEngine(t);
  const turn = (messages: { role: 'user' | 'assistant'; content: string }[]) =>
    run(engine.chat({ model: MODEL, messages, options: {}, keepAliveMs: -1, signal: new AbortController().signal }));
  const first = await turn([{ role: 'user', content: 'hello there' }]);
  const second = await turn([
    { role: 'user', content: 'hello there' },
    { role: 'assistant', content: first.text },
    { role: 'user', content: 'and again' },
  ]);
  t.equal(first.done.context, undefined, 'chat returns no context');
  const fresh = await run(startEngine(t).chat({ model: MODEL, messages: [
    { role: 'user', content: 'hello there' },
    { role: 'assistant', content: first.text },
    { role: 'user', content: 'and again' },
  ], options: {}, keepAliveMs: -1, signal: new AbortController().signal }));
  t.equal(second.done.promptEvalCount, fresh.done.promptEvalCount, 'the whole conversation is counted, as on an engine with nothing cached');
  t.ok(second.done.promptEvalDuration < fresh.done.promptEvalDuration, 'only the new turn is evaluated');
});

t.test('keep_alive', async (t) => {
  const engine = startEngine(t);
  await run(engine.generate(request({ keepAliveMs: 0 })));
  t.same(names(engine), [], '0 unloads as soon as the request ends');

  await run(engine.generate(request({ keepAliveMs: 40 })));
  t.same(names(engine), [MODEL.name], 'loaded until keep_alive passes');
  const expiresIn = engine.loaded()[0]!.expiresAt.getTime() - Date.now();
  t.ok(expiresIn > 0 && expiresIn <= 40, 'expiresAt is keep_alive from the end of the request');
  await sleep(80);
  t.same(names(engine), [], 'unloaded after keep_alive');

  await run(engine.generate(request({ keepAliveMs: 30 })));
  await sleep(15);
  await run(engine.generate(request({ keepAliveMs: 30 })));
  await sleep(20);
  t.same(names(engine), [MODEL.name], 'a new request restarts keep_alive');

  await run(engine.generate(request({ keepAliveMs: -1 })));
  await sleep(50);
  t.same(names(engine), [MODEL.name], 'negative never expires');
  t.ok(engine.loaded()[0]!.expiresAt.getFullYear() > 9000);

  await engine.unload(MODEL.name);
  t.same(names(engine), []);
});

t.test('unload waits for running requests', async (t) => {
  const engine = startEngine(t, { response_tokens: 20 });
  const running = run(engine.generate(request()));
  await sleep(15);
  let unloaded = false;
  const unloading = engine.unload(MODEL.name).then(() => (unloaded = true));
  await sleep(5);
  t.notOk(unloaded, 'not while the request runs');
  const { done } = await running;
  await unloading;
  t.equal(done.evalCount, 20, 'the request finished');
  t.same(names(engine), []);
});

const loadAll = (engine: Engine, models: ModelSpec[]) =>
  models.reduce((previous, model) => previous.then(() => engine.load(model, -1, new AbortController().signal)), Promise.resolve(0));

t.test('max_loaded_models evicts the idle model used least recently', async (t) => {
  const [a, b, c] = ['a:latest', 'b:latest', 'c:latest'].map((name) => simModel(name, 2 ** 20));
  const engine = startEngine(t, {}, { max_loaded_models: 2 });
  await loadAll(engine, [a!, b!]);
  await run(engine.generate(request({ model: a! })));
  await loadAll(engine, [c!]);
  t.same(names(engine).sort(), ['a:latest', 'c:latest'], 'b was used least recently');
});

t.test('0 max_loaded_models means three per GPU', async (t) => {
  const models = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((name) => simModel(`${name}:latest`, 2 ** 20));
  const engine = startEngine(t, { gpus: 2 }, { max_loaded_models: 0 });
  await loadAll(engine, models);
  t.equal(engine.loaded().length, 6);
});

t.test('a model that does not fit the free VRAM evicts idle models; with none idle it waits', async (t) => {
  const GiB = 2 ** 30;
  const engine = startEngine(t, { vram_bytes: 2 * GiB, kv_bytes_per_token: 0, load_bytes_per_second: 1e12, response_tokens: 20 });
  const [a, b] = ['a:latest', 'b:latest'].map((name) => simModel(name, 1.5 * GiB));
  await loadAll(engine, [a!]);
  t.equal((await engine.gpus())[0]!.vramFree, 0.5 * GiB, 'a holds its VRAM');
  await loadAll(engine, [b!]);
  t.same(names(engine), ['b:latest'], 'a was evicted to make room');

  const busy = run(engine.generate(request({ model: b! })));
  const loadedAt = engine.load(a!, -1, new AbortController().signal).then(() => performance.now());
  const [{ doneAt }, aLoadedAt] = await Promise.all([busy, loadedAt]);
  t.ok(aLoadedAt >= doneAt, 'a loads only once b is idle');
  t.same(names(engine), ['a:latest']);
});

t.test('VRAM: a model is placed on one GPU when it fits, spread when not, and on the CPU with num_gpu 0', async (t) => {
  const GiB = 2 ** 30;
  const engine = startEngine(t, { gpus: 2, vram_bytes: 4 * GiB, kv_bytes_per_token: 0, load_bytes_per_second: 1e12 });
  const estimate = await engine.estimateMemory(simModel('huge:latest', 10 * GiB), {});
  t.same(estimate, { total: 10 * GiB, vram: 8 * GiB }, 'VRAM is capped at what the GPUs hold');
  await loadAll(engine, [simModel('one:latest', 3 * GiB)]);
  t.same((await engine.gpus()).map((gpu) => gpu.vramFree), [GiB, 4 * GiB]);
  await engine.unload('one:latest');
  await loadAll(engine, [simModel('spread:latest', 6 * GiB)]);
  t.same((await engine.gpus()).map((gpu) => gpu.vramFree), [0, 2 * GiB]);
  t.equal(engine.loaded()[0]!.sizeVram, 6 * GiB);
  t.same(await engine.estimateMemory(MODEL, { num_gpu: 0 }), { total: MODEL.modelSize, vram: 0 });
});

t.test('abort', async (t) => {
  const engine = startEngine(t, { load_ms: 50, response_tokens: 20 });
  const loading = new AbortController();
  const abortedLoad = run(engine.generate(request({ signal: loading.signal })));
  await sleep(10);
  loading.abort();
  await t.rejects(abortedLoad, { name: 'AbortError' }, 'a request aborted during the load fails at once');
  await sleep(60);
  t.same(names(engine), [MODEL.name], 'the load itself finishes for others');

  const first = run(engine.generate(request()));
  const queued = new AbortController();
  const waiting = run(engine.generate(request({ signal: queued.signal })));
  await sleep(5);
  const abortedAt = performance.now();
  queued.abort();
  await t.rejects(waiting, { name: 'AbortError' }, 'a request aborted while waiting for a slot leaves the line');
  t.ok(performance.now() - abortedAt < 50, 'at once');
  t.equal((await first).done.evalCount, 20, 'the running request is unaffected');
  t.equal((await run(engine.generate(request()))).done.evalCount, 20, 'the slot is free again');
});

t.test('stop ends running requests with an AbortError and unloads everything', async (t) => {
  const engine = startEngine(t, { response_tokens: 100 });
  const running = run(engine.generate(request()));
  await sleep(20);
  await engine.stop();
  await t.rejects(running, { name: 'AbortError' });
  t.same(engine.loaded(), []);
  await t.rejects(run(engine.generate(request())), { code: 'OD_ERR_INTERNAL' }, 'a stopped engine refuses work');
  await engine.start();
  t.equal((await run(engine.generate(request({ options: { num_predict: 2 } })))).done.evalCount, 2, 'and works again after start');
});

t.test('determinism: same seed and prompt give the same plainly synthetic text', async (t) => {
  const engine = startEngine(t, { response_tokens: 12 });
  const other = startEngine(t, { response_tokens: 12, tokens_per_second: 2000 });
  const text = async (engine: Engine, prompt: string, seed?: number) =>
    (await run(engine.generate(request({ prompt, options: seed === undefined ? {} : { seed } })))).text;
  const reference = await text(engine, 'tell me a story', 7);
  t.match(reference, /^sim-token-\d+( sim-token-\d+){11}$/, 'twelve synthetic words');
  t.equal(await text(engine, 'tell me a story', 7), reference, 'same engine');
  t.equal(await text(other, 'tell me a story', 7), reference, 'another engine, other timings');
  t.not(await text(engine, 'tell me a story', 8), reference, 'another seed');
  t.not(await text(engine, 'tell me a joke', 7), reference, 'another prompt');
});

t.test("num_predict ends with 'length', a stop string with 'stop'", async (t) => {
  const engine = startEngine(t, { response_tokens: 10 });
  const full = await run(engine.generate(request()));
  t.equal(full.done.doneReason, 'stop', 'the model stops on its own at response_tokens');
  t.equal(full.done.context?.length, (full.done.promptEvalCount ?? 0) + 10, 'context holds prompt and answer');

  const limited = await run(engine.generate(request({ options: { num_predict: 3 } })));
  t.same([limited.done.doneReason, limited.done.evalCount], ['length', 3]);
  t.equal(limited.text, full.text.split(' ').slice(0, 3).join(' '));
  t.equal((await run(engine.generate(request({ options: { num_predict: 10 } })))).done.doneReason, 'length', 'a limit at the answer length is reached');
  t.equal((await run(engine.generate(request({ options: { num_predict: 50 } })))).done.doneReason, 'stop', 'a limit past the answer is not reached');

  const words = full.text.split(' ');
  const stopped = await run(engine.generate(request({ options: { stop: [` ${words[4]}`] } })));
  t.equal(stopped.done.doneReason, 'stop');
  t.equal(stopped.text, words.slice(0, 4).join(' '), 'the text ends before the stop string');
  t.equal(stopped.done.evalCount, 5);
});

t.test('embed', async (t) => {
  const engine = startEngine(t, { embedding_dim: 16, prompt_tokens_per_second: 1000 });
  const embed = (input: string[], truncate = true, num_ctx?: number) =>
    engine.embed({ model: MODEL, input, truncate, options: num_ctx ? { num_ctx } : {}, keepAliveMs: -1, signal: new AbortController().signal });
  const result = await embed(['the sky is blue', 'grass']);
  t.equal(result.embeddings.length, 2);
  t.ok(result.embeddings.every((vector) => vector.length === 16));
  t.equal(result.promptEvalCount, 5);
  t.equal(result.loadDuration, 6e6);
  t.same((await embed(['the sky is blue'])).embeddings[0], result.embeddings[0], 'deterministic');
  await t.rejects(embed(['one two three'], false, 2), { code: 'OD_ERR_BAD_REQUEST' }, 'too long without truncate');
  t.equal((await embed(['one two three'], true, 2)).promptEvalCount, 2, 'truncated to the context');
});

t.test('requests for capabilities the simulator lacks are refused', async (t) => {
  const engine = startEngine(t);
  t.same(await engine.capabilities(MODEL), ['completion', 'embedding']);
  const tools = [{ type: 'function' as const, function: { name: 'weather' } }];
  await t.rejects(
    run(engine.chat({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], tools, options: {}, keepAliveMs: 0, signal: new AbortController().signal })),
    { code: 'OD_ERR_UNSUPPORTED', message: /does not support tools/ },
  );
  await t.rejects(run(engine.generate(request({ suffix: 'end' }))), { code: 'OD_ERR_UNSUPPORTED', message: /insert/ });
  await t.rejects(run(engine.generate(request({ images: ['aGk='] }))), { code: 'OD_ERR_UNSUPPORTED', message: /vision/ });
});

t.test('num_ctx is capped at the trained context_length, and a model the memory cannot hold is refused', async (t) => {
  const MiB = 2 ** 20;
  const engine = startEngine(t, { gpus: 1, vram_bytes: 64 * MiB, ram_bytes: 64 * MiB, kv_bytes_per_token: 1024, context_length: 8192 });
  await run(engine.generate(request({ options: { num_ctx: 2_000_000_000, num_predict: 1 } })));
  t.equal(engine.loaded()[0]!.contextLength, 8192);
  t.same(await engine.estimateMemory(MODEL, { num_ctx: 2_000_000_000 }), { total: MODEL.modelSize + 8192 * 1024, vram: MODEL.modelSize + 8192 * 1024 });
  await engine.unload(MODEL.name);

  const parallel = startEngine(t, { gpus: 1, vram_bytes: 64 * MiB, ram_bytes: 64 * MiB, kv_bytes_per_token: 1024, context_length: 8192 }, { num_parallel: 256 });
  const refusal = { code: 'OD_ERR_INSUFFICIENT_MEMORY', message: 'model requires more system memory (1.9 GiB) than is available (64.0 MiB)' };
  await t.rejects(run(parallel.generate(request({ options: { num_ctx: 8192 } }))), refusal, '256 slots of 8192 tokens need 2 GiB');
  await t.rejects(parallel.embed({ model: MODEL, input: ['hi'], truncate: true, options: { num_ctx: 8192 }, keepAliveMs: 0, signal: new AbortController().signal }), refusal);
  t.same(parallel.loaded(), [], 'nothing was loaded');
  t.equal((await run(parallel.generate(request({ options: { num_ctx: 128, num_predict: 1 } })))).done.evalCount, 1, 'what fits still runs');
});

t.test('a huge prompt or conversation is read only as far as the context reaches', async (t) => {
  const engine = startEngine(t, { num_ctx: 1024, prompt_tokens_per_second: 1e9 });
  const stall = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  for (const prompt of ['a'.repeat(30_000_000), 'word '.repeat(6_000_000)]) {
    let done: Done | undefined;
    const ms = await stall(async () => (done = (await run(engine.generate(request({ prompt, options: { num_predict: 1 } })))).done));
    t.ok(done!.promptEvalCount <= 1024, `the prompt was cut to the context (${done!.promptEvalCount} tokens)`);
    t.ok(ms < 200, `and read from its end in ${ms.toFixed(1)} ms`);
  }
  const messages = Array.from({ length: 200_000 }, (_, i) => ({ role: 'user' as const, content: `message ${i}` }));
  let done: Done | undefined;
  const ms = await stall(async () => (done = (await run(engine.chat({ model: MODEL, messages, options: { num_predict: 1 }, keepAliveMs: -1, signal: new AbortController().signal }))).done));
  t.ok(done!.promptEvalCount <= 1024, `a conversation keeps its newest turns (${done!.promptEvalCount} tokens)`);
  t.ok(ms < 200, `in ${ms.toFixed(1)} ms`);
  const embed = (truncate: boolean) =>
    engine.embed({ model: MODEL, input: ['b'.repeat(30_000_000)], truncate, options: {}, keepAliveMs: -1, signal: new AbortController().signal });
  t.equal((await embed(true)).promptEvalCount, 1024, 'an embed input keeps its start');
  await t.rejects(embed(false), { code: 'OD_ERR_BAD_REQUEST' });
});

t.test('a generate continued from the start of its answer goes on as the whole run would, counting only what it adds', async (t) => {
  const engine = startEngine(t, { response_tokens: 100 });
  const whole = await run(engine.generate(request({ options: { num_predict: 10, seed: 7 } })));
  const words = whole.text.split(' ');
  t.equal(words.length, 10);
  const begun = words.slice(0, 4).join(' ');
  const rest = await run(engine.generate(request({ options: { num_predict: 6, seed: 7 }, continueFrom: begun })));
  t.equal(begun + rest.text, whole.text, 'the continued text is the rest of the uninterrupted one');
  t.equal(rest.done.evalCount, 6, 'eval_count: the six tokens it added');
  t.equal(rest.done.promptEvalCount, whole.done.promptEvalCount + 4, 'the answer so far is evaluated as prompt');
  t.equal(rest.done.doneReason, 'length');
  const natural = await run(engine.generate(request({ options: { seed: 7 } })));
  const ended = await run(engine.generate(request({ options: { seed: 7 }, continueFrom: natural.text.split(' ').slice(0, 97).join(' ') })));
  t.equal(ended.done.evalCount, 3, 'the answer ends where the whole run ends: 100 tokens in all');
  t.equal(ended.done.doneReason, 'stop');
});
