// Holders that die or freeze under load: node c runs as users run it (`ollama-distributed start`
// from dist/, a child process); nodes a and b run in this process. Killed with SIGKILL during a
// run of requests, no request fails and a model only c held gets a clear error at once; frozen
// with SIGSTOP, what waits on it moves to b once c falls silent for p2p.failure_timeout.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort } from '../../../conformance/fixtures/free-port.js';
import { startTestNode } from '../../../conformance/fixtures/node.js';
import type { Transport } from '../../contracts/transport.js';
import { PACKAGE_ROOT } from '../../version.js';
import { createTiny, postJson } from '../ollama/test-support.js';
import { MODELS_STAY, until, view } from './test-cluster.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const REQUESTS = 200;
const CONCURRENCY = 4;
const KILL_AFTER = 40;
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OLLAMA_')));
const FAILURE_TIMEOUT_MS = 2000;

/** a and b in this process, c a child process bootstrapped to a; c is killed by pid when the test ends. */
async function cluster(t: Test) {
  const a = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'a', ...MODELS_STAY } });
  t.teardown(() => a.stop());
  const bootstrap = a.node.component<Transport>('transport').addresses()[0]!;
  const b = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'b', OLLAMA_P2P_BOOTSTRAP: bootstrap, ...MODELS_STAY } });
  t.teardown(() => b.stop());
  const dataDir = mkdtempSync(join(tmpdir(), 'od-kill-'));
  const port = await freePort();
  const args = [CLI, 'start', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0', '--bootstrap', bootstrap, '--node-name', 'c'];
  const child = spawn(process.execPath, args, { env: { ...BASE_ENV, OLLAMA_ENGINE: 'sim', ...MODELS_STAY }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  });
  const cUrl = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${cUrl}/api/v1/health`).catch(() => undefined))?.ok === true, 20_000, `c answering (${output.slice(-500)})`);
  const cId = ((await (await fetch(`${cUrl}/api/v1/health`)).json()) as { node_id: string }).node_id;
  await createTiny(b.url, 'tiny');
  await createTiny(cUrl, 'tiny');
  await until(() => view(a).holders('tiny:latest').length === 2, 5000, 'a seeing both holders');
  return { a, b, c: { pid: child.pid!, url: cUrl, id: cId } };
}

t.test('kill -9 of one of two holders during 200 requests: none fails', async (t) => {
  const { a, c } = await cluster(t);
  await createTiny(c.url, 'only-c');
  await until(() => view(a).holders('only-c:latest').length === 1, 5000, 'a seeing only-c');

  const served: Record<string, number> = {};
  const failures: string[] = [];
  let sent = 0;
  let killedAt = -1;
  const worker = async () => {
    while (sent < REQUESTS) {
      const index = sent++;
      if (index === KILL_AFTER) {
        process.kill(c.pid, 'SIGKILL');
        killedAt = index;
      }
      const response = await fetch(`${a.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: `request ${index}`, stream: false, options: { num_predict: 3 } }) });
      const text = await response.text();
      if (response.status !== 200) failures.push(`${index}: ${response.status} ${text}`);
      const by = response.headers.get('x-served-by') ?? 'none';
      served[by] = (served[by] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  t.equal(killedAt, KILL_AFTER);
  t.same(failures, [], 'every request answered 200');
  t.ok((served.c ?? 0) > 0 && (served.b ?? 0) > REQUESTS / 2, `served ${JSON.stringify(served)}`);
  t.notOk(view(a).member(c.id)!.healthy, 'c is out');

  const started = performance.now();
  const orphan = await postJson(a.url, '/api/generate', { model: 'only-c', prompt: 'hi', stream: false });
  t.same(orphan, { status: 503, body: { error: "model 'only-c:latest' is held only by nodes that cannot take requests now: c (unreachable)" } });
  t.ok(performance.now() - started < 500, 'at once');
});

t.test('a frozen holder: what waits on it goes to the other once it falls silent', async (t) => {
  const { a, c } = await cluster(t);
  process.kill(c.pid, 'SIGSTOP');
  t.teardown(() => process.kill(c.pid, 'SIGCONT'));
  const started = performance.now();
  // Round robin sends one of two requests to c, whose connections stay open but answer nothing.
  const answers = await Promise.all(
    [0, 1].map(async (i) => {
      const response = await fetch(`${a.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: `frozen ${i}`, stream: false, options: { num_predict: 3 } }) });
      await response.text();
      return [response.status, response.headers.get('x-served-by'), performance.now() - started];
    }),
  );
  t.same(answers.map(([status, by]) => [status, by]), [[200, 'b'], [200, 'b']]);
  const waited = Math.max(...answers.map(([, , ms]) => ms as number));
  t.ok(waited > FAILURE_TIMEOUT_MS - 500 && waited < FAILURE_TIMEOUT_MS + 1500, `the one sent to c was answered by b after ${Math.round(waited)} ms`);
});
