// Options that ask for unbounded memory, sent to the built CLI's node held in a 2 GiB cgroup: num_ctx
// is capped, loads that cannot fit get a 400, and the node stays up (unbounded, the kernel kills it).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PACKAGE_ROOT } from '../../version.js';
import { createTiny, getJson, postJson } from './test-support.js';
import { freePort } from '../../../conformance/fixtures/free-port.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const CGROUPS = '/sys/fs/cgroup/memory';
const LIMIT = 2 * 2 ** 30;
const REFUSED = /^model requires more system memory \(\d+\.\d (GiB|MiB)\) than is available \(\d+\.\d (GiB|MiB|KiB)\)$/;
const SHORT = { num_predict: 2, temperature: 0 };

/** A memory cgroup v1 group holding `limit` bytes, or why none can be made here. */
function memoryCgroup(limit: number): { path: string } | { missing: string } {
  const path = join(CGROUPS, `od-memory-bounds-${process.pid}`);
  try {
    mkdirSync(path);
    writeFileSync(join(path, 'memory.limit_in_bytes'), String(limit));
    return { path };
  } catch (error) {
    return { missing: `no memory cgroup v1 at ${CGROUPS} (${(error as Error).message})` };
  }
}


async function waitForVersion(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`node exited (${child.exitCode ?? child.signalCode})`);
    if (await fetch(`${url}/api/version`).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('node did not start');
}

const cgroup = memoryCgroup(LIMIT);
if ('missing' in cgroup) {
  if (process.env['CI'] === 'true') t.fail(cgroup.missing);
  else t.plan(0, cgroup.missing);
} else {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-memory-bounds-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OLLAMA_') && key !== 'NODE_OPTIONS'));
  // The shell joins the cgroup, then becomes the node: nothing runs outside the limit.
  const child = spawn('sh', ['-c', `echo $$ > ${join(cgroup.path, 'tasks')} && exec "${process.execPath}" "${CLI}" start --data-dir "${dataDir}" --listen 127.0.0.1:${port}`], {
    env: { ...env, OLLAMA_LLAMA_GPU: 'off', OLLAMA_NUM_THREAD: '1', OLLAMA_NUM_PARALLEL: '64' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    for (let tries = 0; tries < 50; tries++) {
      try {
        rmdirSync(cgroup.path);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  await waitForVersion(url, child);
  await createTiny(url, 'tiny');
  // A file may claim any trained context: 2^31 - 1 tokens here.
  await createTiny(url, 'endless', {}, { contextLength: 2 ** 31 - 1, seed: 2 });

  const shown = (body: unknown) => JSON.stringify(body).slice(0, 160);
  const alive = async (t: Test) => {
    t.equal(child.exitCode ?? child.signalCode, null, `the node is running (${stderr.split('\n').slice(-3).join(' | ')})`);
    t.equal((await fetch(`${url}/api/version`)).status, 200, 'and answers');
    t.equal(readFileSync(join(cgroup.path, 'memory.failcnt'), 'utf8').trim(), '0', 'the cgroup never hit its limit');
  };
  const contextOf = async (name: string) => (await getJson(url, '/api/ps')).models.find((m: { name: string }) => m.name === name)?.context_length;

  t.test('num_ctx 2e9 in a request runs with the trained context', async (t) => {
    const answer = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { ...SHORT, num_ctx: 2_000_000_000 } });
    t.equal(answer.status, 200, shown(answer.body));
    t.equal(await contextOf('tiny:latest'), 4096, "the model's llama.context_length");
    const embed = await postJson(url, '/api/embed', { model: 'tiny', input: 'hi', options: { num_ctx: 2_000_000_000 } });
    t.equal(embed.status, 200, shown(embed.body));
    await alive(t);
  });

  t.test('num_ctx 2e9 saved in a model by /api/create runs with the trained context', async (t) => {
    const created = await postJson(url, '/api/create', { model: 'bomb', from: 'tiny', parameters: { num_ctx: 2_000_000_000 }, stream: false });
    t.equal(created.status, 200, shown(created.body));
    const answer = await postJson(url, '/api/generate', { model: 'bomb', prompt: 'hi', stream: false, options: SHORT });
    t.equal(answer.status, 200, shown(answer.body));
    t.equal(await contextOf('bomb:latest'), 4096);
    await alive(t);
  });

  t.test('num_batch 2e9 is held within the context', async (t) => {
    const answer = await postJson(url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { ...SHORT, num_ctx: 1024, num_batch: 2_000_000_000 } });
    t.equal(answer.status, 200, shown(answer.body));
    await alive(t);
  });

  t.test('a context the memory cannot hold is refused with a 400 before anything is allocated', async (t) => {
    for (const num_ctx of [2_000_000_000, 300_000_000]) {
      const answer = await postJson(url, '/api/generate', { model: 'endless', prompt: 'hi', stream: false, options: { ...SHORT, num_ctx } });
      t.equal(answer.status, 400, `num_ctx ${num_ctx}`);
      t.match(answer.body, { error: REFUSED });
      t.same(Object.keys(answer.body), ['error']);
    }
    const embed = await postJson(url, '/api/embed', { model: 'endless', input: 'hi', options: { num_ctx: 2_000_000_000 } });
    t.equal(embed.status, 400);
    t.match(embed.body, { error: REFUSED });
    const chat = await postJson(url, '/api/chat', { model: 'endless', messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_ctx: 300_000_000 } });
    t.equal(chat.status, 400);
    t.match(chat.body, { error: REFUSED });
    await alive(t);
  });

  t.test('num_parallel multiplies the context: 64 slots of 1e6 tokens are refused too', async (t) => {
    const answer = await postJson(url, '/api/generate', { model: 'endless', prompt: 'hi', stream: false, options: { ...SHORT, num_ctx: 1_000_000 } });
    t.equal(answer.status, 400);
    t.match(answer.body, { error: REFUSED });
    const fits = await postJson(url, '/api/generate', { model: 'endless', prompt: 'hi', stream: false, options: { ...SHORT, num_ctx: 2048 } });
    t.equal(fits.status, 200, 'what fits still loads');
    await alive(t);
  });
}
