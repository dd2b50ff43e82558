// Hostile GGUF models already in a store (copied from elsewhere, never through create) against the
// built node in a memory-capped child process: show and generate answer an error naming the
// problem, promptly, and the node stays up. Unchecked, the first crashes V8 and the second hangs llama.cpp.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { plantModel } from '../../conformance/fixtures/planted-model.js';
import { tinyGgufBytes, ValueType, type MetadataValue } from '../../conformance/fixtures/tiny-gguf.js';
import { PACKAGE_ROOT } from '../../core/version.js';
import { freePort } from '../../conformance/fixtures/free-port.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const MEMORY_ROOT = '/sys/fs/cgroup/memory';
/** Enough for the node and the tiny model; an unchecked 150M-entry array takes more before V8 aborts. */
const MEMORY_LIMIT = 3 * 1024 ** 3;
/** Checked, each answer takes milliseconds; unchecked, the crash comes after ~35 s and the hang never ends. */
const ANSWER_WITHIN_MS = 15_000;

function memoryGroup(): string | undefined {
  const path = join(MEMORY_ROOT, `od-hostile-model-${process.pid}`);
  try {
    mkdirSync(path);
    writeFileSync(join(path, 'memory.limit_in_bytes'), String(MEMORY_LIMIT));
    return path;
  } catch (error) {
    if (existsSync(path)) rmdirSync(path);
    const reason = `no memory cgroup under ${MEMORY_ROOT}: ${(error as Error).message}`;
    if (process.env['CI'] === 'true') t.fail(reason);
    else t.plan(0, reason);
    return undefined;
  }
}


async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}`);
    if (await fetch(`${url}/api/v1/health`).then((r) => r.ok, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('node did not become healthy');
}

async function answer(url: string, path: string, body: unknown): Promise<{ status: number; body: { error?: string } }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

const group = memoryGroup();
if (group) {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-hostile-model-'));
  const store = join(dataDir, 'models');
  const manyKeys = Array.from({ length: 250_000 }, (_, i): [string, MetadataValue] => [`x.key.${i}`, { type: ValueType.UINT8, value: 1 }]);
  let nested: MetadataValue = { type: ValueType.ARRAY, itemType: ValueType.UINT8, value: [1] };
  for (let depth = 0; depth < 5_000; depth++) nested = { type: ValueType.ARRAY, itemType: ValueType.ARRAY, value: [nested] };
  await plantModel(store, 'huge-array', tinyGgufBytes({ extraMetadata: [['evil', { type: ValueType.ARRAY, itemType: ValueType.UINT8, value: [], count: 150_000_000 }]] }));
  const manyKeysFile = tinyGgufBytes({ extraMetadata: manyKeys });
  await plantModel(store, 'many-keys', manyKeysFile);
  // llama.cpp reads adapters at load, past the capability check, which reads only the model.
  await plantModel(store, 'many-keys-adapter', tinyGgufBytes(), [manyKeysFile]);
  await plantModel(store, 'deep-arrays', tinyGgufBytes({ extraMetadata: [['deep', nested]] }));
  await plantModel(store, 'tiny', tinyGgufBytes());

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OLLAMA_') && key !== 'NODE_OPTIONS'));
  // The shell joins the group, then becomes the node: nothing of it ever runs uncapped.
  const child = spawn(
    'sh',
    ['-c', `echo $$ > ${join(group, 'cgroup.procs')} && exec "$0" "$@"`, process.execPath, CLI, 'start', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0'],
    { env: { ...env, OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmdirSync(group);
    rmSync(dataDir, { recursive: true, force: true });
  });
  await waitForHealth(url, child);

  const cases: [model: string, error: RegExp][] = [
    ['huge-array', /^GGUF key "evil": array size 150000000 exceeds maximum 8388608$/],
    ['many-keys', /^GGUF header declares 250024 metadata keys, more than the 4096 allowed$/],
    ['deep-arrays', /^GGUF key "deep": nested arrays are not supported$/],
  ];

  t.test('show answers an error naming the problem and the node stays up', async (t) => {
    for (const [model, error] of cases) {
      const show = await answer(url, '/api/show', { model });
      t.equal(show.status, 500, `${model}: a model file the node cannot use is its failure, not the client's`);
      t.match(show.body.error, error, model);
      t.equal((await fetch(`${url}/api/version`)).status, 200, `${model}: the node still answers`);
    }
  });

  t.test('a load answers the same error instead of crashing or hanging', async (t) => {
    for (const [model, error] of [...cases, ['many-keys-adapter', cases[1]![1]] as const]) {
      const generate = await answer(url, '/api/generate', { model, prompt: 'hi', stream: false });
      t.equal(generate.status, 500, model);
      t.match(generate.body.error, error, model);
    }
    const tiny = await answer(url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 2 } });
    t.equal(tiny.status, 200, 'a sound model beside them still runs');
  });

  t.test('the node stops on the first SIGTERM', async (t) => {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))]);
    t.equal(code, 0, `exit status (stderr: ${stderr.slice(-2000)})`);
  });
}
