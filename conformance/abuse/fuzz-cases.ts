// Bounded fast-check runs: random bodies to every POST endpoint, random mutations of a GGUF header
// uploaded and created. Never a 5xx, never a dropped connection, the node up after each.

import { createServer } from 'node:net';
import fc from 'fast-check';
import type { Test } from 'tap';
import { tinyGgufBytes } from '../fixtures/tiny-gguf.js';
import { bodies, endpoints, type FuzzNames } from './fuzz-bodies.js';
import { uploadAndCreate } from './gguf-cases.js';
import type { AbuseRun, AttackContext } from './harness.js';
import { mutatedGguf, type HeaderEdit } from './hostile-gguf.js';
import { send, type Reply } from './raw-http.js';

const BODY_RUNS = 40;
const BODY_TIME_MS = 2_000;
const GGUF_RUNS = 40;
const GGUF_TIME_MS = 8_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** The seed of this run, printed so a failure can be replayed with OLLAMA_ABUSE_SEED. */
const SEED = Number(process.env['OLLAMA_ABUSE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Throws what went wrong, so fast-check records it with the counterexample. */
async function expectAnswer(context: AttackContext, reply: Promise<Reply>, what: string, ok: (status: number) => boolean): Promise<void> {
  let got: Reply;
  try {
    got = await reply;
  } catch (error) {
    throw new Error(`${what}: no answer (${(error as Error).message})`);
  }
  if (!ok(got.status)) throw new Error(`${what}: status ${got.status}: ${got.text.slice(0, 300)}`);
  const version = await send(context.url, '/api/version', { method: 'GET', signal: AbortSignal.timeout(2_000) }).catch((error: Error) => error);
  if (version instanceof Error || version.status !== 200) throw new Error(`${what}: the node no longer answers /api/version`);
}

const timeout = (context: AttackContext) => AbortSignal.any([context.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]);
const notServerError = (status: number) => status < 500;

function report(t: Test, what: string, details: fc.RunDetails<unknown>): void {
  const runs = `${details.numRuns} runs${details.interrupted ? ', stopped at its time limit' : ''}`;
  if (!details.failed) return void t.pass(`${what}: ${runs}, seed ${details.seed}`);
  const text = ((details.counterexample ?? []) as unknown[]).map((value) => (typeof value === 'string' ? value : JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item)))).join(', ');
  const example = text.length > 400 ? `${text.slice(0, 200)} ... ${text.slice(-100)} (${text.length} characters)` : text;
  t.fail(`${what}: ${(details.errorInstance as Error)?.message ?? 'failed'} (seed ${details.seed}, after ${runs}; counterexample ${example})`);
}

export function fuzzCases(run: AbuseRun): void {
  run.attack('random bodies to every POST endpoint: 2xx or 4xx, never a 5xx or a dropped connection', { limitMs: 60_000 }, async (t, context) => {
    const names: FuzzNames = { model: context.target.model, scratch: context.scratch('fz'), deadRegistry: `127.0.0.1:${await deadPort()}` };
    t.comment(`fast-check seed ${SEED} (replay with OLLAMA_ABUSE_SEED=${SEED})`);
    for (const endpoint of endpoints(names)) {
      const what = `${endpoint.method} ${endpoint.path}`;
      // A registry that is not there is the upstream's fault: 502, as this node says it.
      const ok = endpoint.path === '/api/pull' || endpoint.path === '/api/push' ? (status: number) => status < 500 || status === 502 : notServerError;
      const property = fc.asyncProperty(bodies(endpoint, names), (body) =>
        expectAnswer(context, send(context.url, endpoint.path, { method: endpoint.method, body, signal: timeout(context) }), what, ok),
      );
      report(t, what, await fc.check(property, { numRuns: BODY_RUNS, seed: SEED, endOnFailure: true, plugins: [fc.interruptAfterTimeLimit(BODY_TIME_MS)] }));
      // A crash found here would fail every endpoint after it; the harness still reports the crash.
      if (context.target.node && context.target.node.pid() === undefined) await context.target.node.restart();
    }
  });

  run.attack('random mutations of a GGUF header, uploaded and created: 400 or a model, never a crash', { limitMs: 40_000 }, async (t, context) => {
    const tiny = tinyGgufBytes({ seed: SEED });
    const edit: fc.Arbitrary<HeaderEdit> = fc.oneof(
      fc.record({ at: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat()), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ at: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat()), u64: fc.constantFrom(0n, 1n, 0xffffffffn, 0x100000000n, 150_000_000n, 2n ** 63n, 2n ** 64n - 1n) }),
    );
    let n = 0;
    const property = fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), async (edits) => {
      const file = mutatedGguf(tiny, edits);
      const model = context.scratch(`fz-gguf-${n++}`);
      const signal = timeout(context);
      const { upload, create } = await uploadAndCreate({ ...context, signal }, file, model).catch((error: Error) => {
        throw new Error(`upload or create: no answer (${error.message})`);
      });
      if (upload.status >= 500) throw new Error(`upload: status ${upload.status}: ${upload.text.slice(0, 300)}`);
      if (!create) return;
      await expectAnswer(context, Promise.resolve(create), 'create', (status) => status === 200 || status === 400);
      if (create.status !== 200) return;
      await expectAnswer(context, send(context.url, '/api/show', { body: { model }, signal }), 'show', notServerError);
      const generate = { model, prompt: 'hi', stream: false, options: { num_predict: 1 } };
      // An engine that cannot load what the header check let through may say so with any status; it
      // must answer and live.
      await expectAnswer(context, send(context.url, '/api/generate', { body: generate, signal }), 'generate', () => true);
      await send(context.url, '/api/delete', { method: 'DELETE', body: { model }, signal });
    });
    report(t, 'GGUF header mutations', await fc.check(property, { numRuns: GGUF_RUNS, seed: SEED, endOnFailure: true, plugins: [fc.interruptAfterTimeLimit(GGUF_TIME_MS)] }));
  });
}
