// The engine conformance suite: the invariants of core/contracts/engine.ts checked against any
// engine plugin. An implementation's test passes its setup()/teardown() pair and runs it with tap.

import type { Test } from 'tap';
import type {
  ChatRequest,
  DoneReason,
  Engine,
  GenerateRequest,
  ModelSpec,
  RunEvent,
} from '../../core/contracts/engine.js';

export interface EngineUnderTest {
  /** Built but not started: the suite starts and stops it in every check. */
  engine: Engine;
  /** A model the engine can run. Making it (a fixture file, a simulated spec) is the caller's job. */
  model: ModelSpec;
  capabilities?: {
    /**
     * The model writes until num_predict rather than ending on its own after a token or two, as a
     * random-weight model does. Checks that need a long stream (abort mid-stream, done reason
     * 'length') are skipped, with this reason, when it is false. Default true.
     */
    generatesUntilLimit?: boolean;
  };
}

export interface EngineConformanceHooks<C extends EngineUnderTest> {
  /** Called once per check: a fresh engine each time, so checks do not see each other's models. */
  setup(): Promise<C>;
  teardown(context: C): Promise<void>;
}

type Done = Extract<RunEvent, { type: 'done' }>;

const RUN_REASONS: readonly DoneReason[] = ['stop', 'length'];
/** How long an aborted stream may take to end. */
const ABORT_GRACE_MS = 1000;
/** How long an engine may take to unload a model after a keep_alive 0 request. */
const UNLOAD_GRACE_MS = 2000;
const KEEP_ALIVE_MS = 60_000;
const YEAR_MS = 365 * 24 * 3600 * 1000;

const isDone = (event: RunEvent): event is Done => event.type === 'done';

function generateRequest(model: ModelSpec, overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model,
    prompt: 'Why is the sky blue?',
    raw: false,
    options: { num_predict: 8, seed: 42, temperature: 0 },
    keepAliveMs: KEEP_ALIVE_MS,
    signal: new AbortController().signal,
    ...overrides,
  };
}

function chatRequest(model: ModelSpec, overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model,
    messages: [{ role: 'user', content: 'Say hello in one word.' }],
    options: { num_predict: 8, seed: 42, temperature: 0 },
    keepAliveMs: KEEP_ALIVE_MS,
    signal: new AbortController().signal,
    ...overrides,
  };
}

async function collect(stream: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
const isDuration = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** The stream shape every run must have; returns its done event. */
function checkRun(t: Test, events: RunEvent[]): Done {
  const done = events.filter(isDone);
  t.equal(done.length, 1, 'exactly one done event');
  t.equal(events.at(-1)?.type, 'done', 'the done event comes last');
  const tokens = events.filter((event) => event.type === 'token');
  t.ok(
    tokens.every((event) => typeof event.text === 'string'),
    'every token event carries text',
  );
  const last = done[0]!;
  t.ok(RUN_REASONS.includes(last.doneReason), `done reason ${last.doneReason} is one of ${RUN_REASONS.join(', ')}`);
  t.ok(isCount(last.promptEvalCount) && isCount(last.evalCount), 'counts are non-negative integers');
  t.ok(
    [last.loadDuration, last.promptEvalDuration, last.evalDuration].every(isDuration),
    'durations are finite and non-negative',
  );
  if (tokens.length > 0) t.ok(last.evalCount > 0, 'evalCount > 0 when tokens were written');
  if (last.context !== undefined) t.ok(last.context.every(isCount), 'context is a list of token ids');
  return last;
}

/** Marks the running check skipped, with the reason in the TAP output; call it before any assertion. */
function skip(t: Test, reason: string): void {
  t.plan(0, reason);
}

async function eventually(condition: () => boolean, withinMs: number): Promise<boolean> {
  const until = performance.now() + withinMs;
  while (!condition() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

export function engineConformance<C extends EngineUnderTest>(t: Test, hooks: EngineConformanceHooks<C>): void {
  const check = (name: string, body: (t: Test, context: C) => Promise<void>, started = true) =>
    t.test(name, async (t) => {
      const context = await hooks.setup();
      try {
        if (started) await context.engine.start();
        await body(t, context);
      } finally {
        await context.engine.stop();
        await hooks.teardown(context);
      }
    });
  const longStreams = (context: C) => context.capabilities?.generatesUntilLimit ?? true;
  const shortModelReason = 'the model may end on its own before the check can act (capabilities.generatesUntilLimit is false)';

  check('generate yields tokens, then exactly one done event with consistent figures', async (t, { engine, model }) => {
    checkRun(t, await collect(engine.generate(generateRequest(model))));
  });

  check('chat yields tokens, then exactly one done event with consistent figures', async (t, { engine, model }) => {
    checkRun(t, await collect(engine.chat(chatRequest(model))));
  });

  check('the same request three times reports the same promptEvalCount, cached prefix included', async (t, { engine, model }) => {
    const tool = { type: 'function', function: { name: 'weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    const runs: [string, () => AsyncIterable<RunEvent>][] = [
      ['generate', () => engine.generate(generateRequest(model, { options: { num_predict: 2, seed: 1 } }))],
      ['chat', () => engine.chat(chatRequest(model, { options: { num_predict: 2, seed: 1 } }))],
    ];
    if ((await engine.capabilities(model)).includes('tools')) {
      runs.push(['chat with tools', () => engine.chat(chatRequest(model, { tools: [tool] as ChatRequest['tools'], options: { num_predict: 2, seed: 1 } }))]);
    }
    for (const [name, run] of runs) {
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) counts.push(checkRun(t, await collect(run())).promptEvalCount);
      t.ok(counts[0]! > 0, `${name}: promptEvalCount ${counts[0]} > 0`);
      t.same(counts, [counts[0], counts[0], counts[0]], `${name}: promptEvalCount ${counts.join(', ')} is the same each time`);
    }
  });

  check('num_predict bounds the tokens written', async (t, { engine, model }) => {
    const done = checkRun(t, await collect(engine.generate(generateRequest(model, { options: { num_predict: 3, seed: 1 } }))));
    t.ok(done.evalCount <= 3, `evalCount ${done.evalCount} <= num_predict 3`);
  });

  check("reaching num_predict ends the run with done reason 'length'", async (t, context) => {
    if (!longStreams(context)) return skip(t, shortModelReason);
    const request = generateRequest(context.model, { options: { num_predict: 3, seed: 1 } });
    const done = checkRun(t, await collect(context.engine.generate(request)));
    t.equal(done.doneReason, 'length');
    t.equal(done.evalCount, 3);
  });

  check('a request whose signal is already aborted fails with an AbortError and the engine stays usable', async (t, { engine, model }) => {
    const controller = new AbortController();
    controller.abort();
    await t.rejects(collect(engine.generate(generateRequest(model, { signal: controller.signal }))), { name: 'AbortError' });
    checkRun(t, await collect(engine.generate(generateRequest(model, { options: { num_predict: 2 } }))));
  });

  /**
   * Runs `request`, aborting it as its first token arrives; returns what arrived and how it ended.
   * A random-weight model may end before its first token: then the run is tried with other seeds.
   */
  async function abortAtFirstToken(engine: Engine, request: GenerateRequest, controller: AbortController) {
    for (let attempt = 0; ; attempt++) {
      const events: RunEvent[] = [];
      let abortedAt = 0;
      const seed = (request.options.seed ?? 0) + attempt;
      const error = await (async () => {
        for await (const event of engine.generate({ ...request, options: { ...request.options, seed } })) {
          events.push(event);
          if (event.type === 'token' && !controller.signal.aborted) {
            abortedAt = performance.now();
            controller.abort();
          }
        }
      })().catch((error: unknown) => error);
      if (controller.signal.aborted || attempt === 4) return { events, error: error as Error | undefined, abortedAt };
    }
  }

  function checkAborted(t: Test, { events, error }: { events: RunEvent[]; error: Error | undefined }): void {
    t.equal(error?.name, 'AbortError', 'the stream fails with an AbortError');
    t.notOk(events.some(isDone), 'no done event after an abort');
    t.equal(events.filter((event) => event.type === 'token').length, 1, 'no token after the abort');
  }

  check('aborting mid-stream ends it promptly with an AbortError and frees the model', async (t, context) => {
    if (!longStreams(context)) return skip(t, shortModelReason);
    const { engine, model } = context;
    const controller = new AbortController();
    const request = generateRequest(model, { options: { num_predict: 100_000 }, signal: controller.signal });
    const aborted = await abortAtFirstToken(engine, request, controller);
    checkAborted(t, aborted);
    t.ok(performance.now() - aborted.abortedAt < ABORT_GRACE_MS, `the stream ended within ${ABORT_GRACE_MS} ms of the abort`);
    checkRun(t, await collect(engine.generate(generateRequest(model, { options: { num_predict: 2 } }))));
  });

  check('an abort on the last token the run would write delivers nothing more', async (t, { engine, model }) => {
    // The run reaches num_predict on the very step the caller aborts: what it would flush then
    // (held text, the done event) must not reach the caller.
    const controller = new AbortController();
    const request = generateRequest(model, { options: { num_predict: 1 }, signal: controller.signal });
    checkAborted(t, await abortAtFirstToken(engine, request, controller));
  });

  check('embed returns one finite vector per input, all of one length', async (t, { engine, model }) => {
    const input = ['The sky is blue.', 'Grass is green and the sky is blue.'];
    // Ollama embeds with models that do not list `embedding`; an engine that cannot refuses.
    const result = await engine
      .embed({ model, input, truncate: true, options: {}, keepAliveMs: KEEP_ALIVE_MS, signal: new AbortController().signal })
      .catch((error: unknown) => {
        if ((error as { code?: string }).code === 'OD_ERR_UNSUPPORTED') return undefined;
        throw error;
      });
    if (!result) return skip(t, 'the engine cannot embed with this model');
    t.equal(result.embeddings.length, input.length, 'one vector per input');
    const length = result.embeddings[0]?.length ?? 0;
    t.ok(length > 0, 'vectors are not empty');
    t.ok(result.embeddings.every((vector) => vector.length === length), 'vectors have equal length');
    t.ok(result.embeddings.flat().every(Number.isFinite), 'every number is finite');
    t.ok(isCount(result.promptEvalCount) && isDuration(result.loadDuration), 'promptEvalCount and loadDuration are valid');
  });

  check('keep_alive 0 unloads the model after the request', async (t, { engine, model }) => {
    checkRun(t, await collect(engine.generate(generateRequest(model, { keepAliveMs: 0, options: { num_predict: 2 } }))));
    t.ok(await eventually(() => engine.loaded().length === 0, UNLOAD_GRACE_MS), 'loaded() is empty');
  });

  check('load() loads the model, loaded() describes it and unload() releases it', async (t, { engine, model }) => {
    const loadNs = await engine.load(model, KEEP_ALIVE_MS, new AbortController().signal);
    t.ok(isDuration(loadNs), 'load returns a duration in ns');
    const [entry, ...others] = engine.loaded();
    t.equal(others.length, 0, 'one model loaded');
    t.equal(entry?.name, model.name, 'name');
    t.equal(entry?.digest, model.digest, 'digest');
    t.ok(entry && isCount(entry.size) && isCount(entry.sizeVram) && entry.sizeVram <= entry.size, 'size >= sizeVram >= 0');
    t.ok(entry && Number.isSafeInteger(entry.contextLength) && entry.contextLength > 0, 'contextLength > 0');
    t.ok(entry && typeof entry.details.format === 'string', 'details are the model details');
    t.equal(entry?.activeRequests, 0, 'no active requests');
    const expiresIn = (entry?.expiresAt.getTime() ?? 0) - Date.now();
    t.ok(expiresIn > 0 && expiresIn <= KEEP_ALIVE_MS + 5000, `expiresAt is keep_alive from now (${expiresIn} ms)`);

    t.ok(isDuration(await engine.load(model, -1, new AbortController().signal)), 'loading a loaded model returns a duration');
    t.equal(engine.loaded().length, 1, 'loading again does not duplicate the model');
    t.ok((engine.loaded()[0]?.expiresAt.getTime() ?? 0) > Date.now() + YEAR_MS, 'negative keep_alive never expires');

    await engine.unload(model.name);
    t.same(engine.loaded(), [], 'unload() empties loaded()');
    await engine.unload(model.name);
    await engine.unload('not-loaded:latest');
    t.pass('unloading a model that is not loaded is a no-op');
  });

  check('loaded() counts a running request', async (t, { engine, model }) => {
    let seen: number | undefined;
    for await (const event of engine.generate(generateRequest(model))) {
      if (event.type === 'token' && seen === undefined) seen = engine.loaded().find((entry) => entry.name === model.name)?.activeRequests;
    }
    if (seen === undefined) return skip(t, 'the model wrote no token, so no request was seen running');
    t.ok(seen >= 1, `activeRequests ${seen} >= 1 while a request runs`);
  });

  check('concurrent requests each end with their own done event', async (t, { engine, model }) => {
    const runs = await Promise.all([
      collect(engine.generate(generateRequest(model, { options: { num_predict: 4, seed: 1 } }))),
      collect(engine.chat(chatRequest(model, { options: { num_predict: 4, seed: 2 } }))),
      collect(engine.generate(generateRequest(model, { prompt: 'Another prompt.', options: { num_predict: 4, seed: 3 } }))),
    ]);
    for (const events of runs) checkRun(t, events);
  });

  check("capabilities() includes 'completion'", async (t, { engine, model }) => {
    t.ok((await engine.capabilities(model)).includes('completion'));
  });

  check('estimateMemory() and gpus() report sane figures', async (t, { engine, model }) => {
    const estimate = await engine.estimateMemory(model, {});
    t.ok(isCount(estimate.total) && isCount(estimate.vram) && estimate.vram <= estimate.total, 'total >= vram >= 0');
    t.ok(estimate.total >= model.modelSize, 'the estimate holds at least the model file');
    for (const gpu of await engine.gpus()) {
      t.ok(gpu.id.length > 0 && gpu.name.length > 0 && gpu.backend.length > 0, `gpu ${gpu.id} is named`);
      t.ok(isCount(gpu.vramFree) && isCount(gpu.vramTotal) && gpu.vramFree <= gpu.vramTotal, `gpu ${gpu.id}: total >= free >= 0`);
    }
  });

  check('start twice and stop twice are harmless', async (t, { engine, model }) => {
    await engine.start();
    await engine.start();
    checkRun(t, await collect(engine.generate(generateRequest(model, { options: { num_predict: 2 } }))));
    await engine.stop();
    await engine.stop();
    t.pass('stopped twice');
  }, false);

  check('stop without start resolves', async (t, { engine }) => {
    await engine.stop();
    t.pass('stopped');
  }, false);

  check('stop releases loaded models', async (t, { engine, model }) => {
    await engine.load(model, -1, new AbortController().signal);
    await engine.stop();
    t.same(engine.loaded(), [], 'loaded() is empty after stop');
  });
}
