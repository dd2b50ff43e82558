// Runs the built CLI as users do: start, status, stop, config print, and the exit-2 paths.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PACKAGE_ROOT } from '../version.js';
import { createTiny } from '../api/ollama/test-support.js';
import { freePort } from '../../conformance/fixtures/free-port.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OLLAMA_')));


function cli(args: string[], env: Record<string, string> = {}, cwd = PACKAGE_ROOT) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { ...BASE_ENV, ...env }, cwd, encoding: 'utf8', timeout: 60_000 });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function waitForHealth(url: string, child: ChildProcess): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`node exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/api/v1/health`);
      if (response.ok) return (await response.json()) as Record<string, unknown>;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('node did not become healthy');
}

t.test('start serves health, version and root; stop ends it cleanly', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-cli-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0', '--node-name', 'cli-test'], {
    env: BASE_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdout!.resume();
  const exit = exited(child);
  t.teardown(() => void child.kill('SIGKILL'));

  const health = await waitForHealth(url, child);
  t.equal(health.status, 'healthy');
  t.equal(health.node_name, 'cli-test');
  t.match(health.node_id, /^[0-9a-f-]{36}$/);
  t.match(health.plugins, [{ kind: 'storage', state: 'running' }, { kind: 'transport', name: 'libp2p', state: 'running' }, { kind: 'consensus', name: 'raft', state: 'running' }, { kind: 'engine', state: 'running' }]);

  const version = await fetch(`${url}/api/version`);
  t.match(await version.json(), { version: /^\d+\.\d+\.\d+/ });
  const root = await fetch(`${url}/`);
  t.equal(await root.text(), 'Ollama is running');
  t.equal((await fetch(`${url}/`, { method: 'HEAD' })).status, 200);
  const missing = await fetch(`${url}/api/nope`);
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('content-type'), 'text/plain');
  t.equal(await missing.text(), '404 page not found', "Gin's plain-text 404, as Ollama answers");

  const status = cli(['status', '--listen', `127.0.0.1:${port}`]);
  t.equal(status.status, 0, status.stderr);
  t.match(status.stdout, /status\s+healthy/);

  t.ok(existsSync(join(dataDir, 'ollama-distributed.pid')), 'a running node has a pid file');
  t.ok(existsSync(join(dataDir, 'logs', 'ollama-distributed.log')), 'logs go to the data dir');

  const second = cli(['start', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0']);
  t.equal(second.status, 1, 'a second node on the same data dir is refused');
  t.match(second.stderr, /already runs on data dir/);

  const stop = cli(['stop', '--data-dir', dataDir]);
  t.equal(stop.status, 0, stop.stderr);
  t.equal(await exit, 0, `the node exits by itself with status 0 (stderr: ${stderr})`);
  t.notOk(existsSync(join(dataDir, 'ollama-distributed.pid')), 'no pid file is left');
  await t.rejects(fetch(`${url}/`), 'nothing listens any more');

  const again = cli(['stop', '--data-dir', dataDir]);
  t.equal(again.status, 1, 'stop with no node running fails');
  t.match(again.stderr, /no node is running/);
});

t.test('a file balancer named in the config is loaded and used', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-plugin-'));
  copyFileSync(join(PACKAGE_ROOT, 'conformance', 'fixtures', 'prefer-local-balancer.js'), join(dir, 'my-balancer.mjs'));
  const port = await freePort();
  writeFileSync(join(dir, 'node.yaml'), `api:\n  listen: 127.0.0.1:${port}\np2p:\n  listen: /ip4/127.0.0.1/tcp/0\nconsensus:\n  bind_addr: 127.0.0.1:0\nscheduler:\n  algorithm: ./my-balancer.mjs\n  options:\n    max_active: 2\nstorage:\n  data_dir: ${join(dir, 'data')}\n`);
  const child = spawn(process.execPath, [CLI, 'start', '--config', join(dir, 'node.yaml')], { env: BASE_ENV, stdio: 'ignore' });
  const exit = exited(child);
  t.teardown(() => void child.kill('SIGKILL'));
  const health = await waitForHealth(`http://127.0.0.1:${port}`, child);
  const balancer = (health.plugins as { name: string; kind: string; state: string }[]).find((p) => p.kind === 'balancer');
  t.same(balancer, { name: 'prefer-local', kind: 'balancer', state: 'running' });
  child.kill('SIGTERM');
  t.equal(await exit, 0);
});

t.test('invalid config exits 2 naming the key, before touching the data dir', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-bad-config-'));
  const cases: [string, string | undefined, Record<string, string>, RegExp][] = [
    ['wrong type', 'api: {listen: 42}\n', {}, /api\.listen = 42/],
    ['value outside its set', 'scheduler:\n  algorithm: fastest\n', {}, /scheduler\.algorithm = "fastest": unknown balancer plugin; must be one of round_robin/],
    ['unknown plugin name', 'engine:\n  name: turbo\n', {}, /engine\.name = "turbo": unknown engine plugin/],
    ['bad env value', undefined, { OLLAMA_API_TIMEOUT: 'soon' }, /api\.timeout = "soon" \(from OLLAMA_API_TIMEOUT\)/],
    ['bad flag value', undefined, {}, /api\.listen = "nowhere" \(from --listen\)/],
    [
      'auth enabled with method none',
      'security:\n  auth:\n    enabled: true\n    method: none\n',
      {},
      /security\.auth\.method \(from .*node\.yaml\): must not be none when security\.auth\.enabled is true/,
    ],
    [
      'auth method none from the env',
      undefined,
      { OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_METHOD: 'none' },
      /security\.auth\.method \(from OLLAMA_SECURITY_AUTH_METHOD\): must not be none when security\.auth\.enabled is true/,
    ],
  ];
  for (const [name, yaml, env, message] of cases) {
    const dataDir = join(dir, name.replace(/\W+/g, '-'));
    const args = ['start', '--data-dir', dataDir];
    if (yaml !== undefined) {
      writeFileSync(join(dir, 'node.yaml'), yaml);
      args.push('--config', join(dir, 'node.yaml'));
    }
    if (name === 'bad flag value') args.push('--listen', 'nowhere');
    const result = cli(args, env);
    t.equal(result.status, 2, `${name}: exit status 2`);
    t.match(result.stderr, message, `${name}: the message names the key`);
    t.notOk(existsSync(dataDir), `${name}: the data dir was not created`);
  }
  t.same(readdirSync(dir).sort(), ['node.yaml'], 'nothing else was written');
});

t.test('config print shows each value and where it came from', async (t) => {
  const seed: Record<string, [string, string, unknown]> = {
    OLLAMA_API_LISTEN: ['api.listen', '0.0.0.0:11500', '0.0.0.0:11500'],
    OLLAMA_API_TIMEOUT: ['api.timeout', '45s', '45s'],
    OLLAMA_API_MAX_BODY_SIZE: ['api.max_body_size', '1048576', 1048576],
    OLLAMA_P2P_LISTEN: ['p2p.listen', '/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4001'],
    OLLAMA_P2P_BOOTSTRAP: ['p2p.bootstrap', '/ip4/10.1.1.1/tcp/4001', ['/ip4/10.1.1.1/tcp/4001']],
    OLLAMA_P2P_ENABLE_DHT: ['p2p.enable_dht', 'false', false],
    OLLAMA_P2P_ENABLE_PUBSUB: ['p2p.enable_pubsub', 'false', false],
    OLLAMA_CONSENSUS_BIND_ADDR: ['consensus.bind_addr', '0.0.0.0:7001', '0.0.0.0:7001'],
    OLLAMA_CONSENSUS_BOOTSTRAP: ['consensus.bootstrap', 'true', true],
    OLLAMA_CONSENSUS_DATA_DIR: ['consensus.data_dir', '/srv/od/raft', '/srv/od/raft'],
    OLLAMA_SECURITY_TLS_ENABLED: ['security.tls.enabled', 'true', true],
    OLLAMA_SECURITY_TLS_CERT_FILE: ['security.tls.cert_file', '/etc/od/cert.pem', '/etc/od/cert.pem'],
    OLLAMA_SECURITY_TLS_KEY_FILE: ['security.tls.key_file', '/etc/od/key.pem', '/etc/od/key.pem'],
    OLLAMA_SECURITY_AUTH_ENABLED: ['security.auth.enabled', 'true', true],
    OLLAMA_SECURITY_AUTH_METHOD: ['security.auth.method', 'jwt', 'jwt'],
    OLLAMA_SECURITY_AUTH_SECRET_KEY: ['security.auth.secret_key', 's'.repeat(40), '<redacted>'],
    OLLAMA_WEB_ENABLED: ['web.enabled', 'true', true],
    OLLAMA_WEB_LISTEN: ['web.listen', '0.0.0.0:8081', '0.0.0.0:8081'],
    OLLAMA_STORAGE_DATA_DIR: ['storage.data_dir', '/srv/od', '/srv/od'],
    OLLAMA_STORAGE_MODEL_DIR: ['storage.model_dir', '/srv/models', '/srv/models'],
    OLLAMA_STORAGE_CACHE_DIR: ['storage.cache_dir', '/srv/cache', '/srv/cache'],
    OLLAMA_NODE_NAME: ['node.name', 'n9', 'n9'],
    OLLAMA_LOGGING_LEVEL: ['logging.level', 'warn', 'warn'],
  };
  const env = Object.fromEntries(Object.entries(seed).map(([name, [, raw]]) => [name, raw]));
  const result = cli(['config', 'print', '--json', '--node-name', 'from-flag'], env);
  t.equal(result.status, 0, result.stderr);
  const rows = new Map((JSON.parse(result.stdout) as { path: string; value: unknown; source: string; origin?: string }[]).map((r) => [r.path, r]));
  for (const [name, [path, , shown]] of Object.entries(seed)) {
    if (path === 'node.name') continue;
    t.same(rows.get(path), { path, value: shown, source: 'env', origin: name }, name);
  }
  t.match(rows.get('node.name'), { value: 'from-flag', source: 'flag', origin: '--node-name' }, 'a flag beats the env');
  t.match(rows.get('engine.num_parallel'), { value: 1, source: 'default' });
  t.notMatch(result.stdout, /ssssssss/, 'the secret never prints');

  const text = cli(['config', 'print'], env);
  t.match(text.stdout, /api\.listen = 0\.0\.0\.0:11500\s+# env OLLAMA_API_LISTEN/);
});

t.test('version', async (t) => {
  const result = cli(['version']);
  t.equal(result.status, 0);
  t.match(result.stdout, /^ollama-distributed \d+\.\d+\.\d+/);
});

/** A node started from the built CLI, its output captured, killed by pid when the test ends. */
function startNode(t: Test, args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, 'start', ...args], { env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk) => (output.stdout += chunk));
  child.stderr!.on('data', (chunk) => (output.stderr += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  t.teardown(() => void child.kill('SIGKILL'));
  return { child, output, exit };
}

/** Resolves with the exit, or with undefined once `ms` passed and the process still runs. */
function exitWithin<T>(exit: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([exit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);
}

/** A balancer whose stop() blocks the main thread for good, as a hung native call would. */
const HANGING_BALANCER = `
import { writeFileSync } from 'node:fs';
export const meta = { name: 'hangs-on-stop', kind: 'balancer', provides: ['balancer'], requires: [] };
export default function hangsOnStop(init) {
  return () => ({
    name: meta.name,
    pickNode: (_request, candidates) => candidates[0],
    start() {},
    stop() {
      writeFileSync(init.options.marker, 'stopping');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    },
  });
}
`;

async function hangingNodeConfig(stopTimeout: string) {
  const dir = mkdtempSync(join(tmpdir(), 'od-hang-'));
  const port = await freePort();
  writeFileSync(join(dir, 'hangs-on-stop.mjs'), HANGING_BALANCER);
  const marker = join(dir, 'stopping');
  writeFileSync(
    join(dir, 'node.yaml'),
    `api:\n  listen: 127.0.0.1:${port}\np2p:\n  listen: /ip4/127.0.0.1/tcp/0\nconsensus:\n  bind_addr: 127.0.0.1:0\nnode:\n  stop_timeout: ${stopTimeout}\nscheduler:\n  algorithm: ./hangs-on-stop.mjs\n  options:\n    marker: ${marker}\nstorage:\n  data_dir: ${join(dir, 'data')}\nengine:\n  name: sim\n`,
  );
  return { config: join(dir, 'node.yaml'), url: `http://127.0.0.1:${port}`, marker, dataDir: join(dir, 'data') };
}

t.test('stop cuts a request that never finishes once node.stop_timeout passes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'od-stuck-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = join(dir, 'data');
  // The first token of a run takes 1000 s: the request is in flight for as long as the test lasts.
  writeFileSync(
    join(dir, 'node.yaml'),
    `api:\n  listen: 127.0.0.1:${port}\np2p:\n  listen: /ip4/127.0.0.1/tcp/0\nconsensus:\n  bind_addr: 127.0.0.1:0\nnode:\n  stop_timeout: 3s\nstorage:\n  data_dir: ${dataDir}\nengine:\n  name: sim\n  options:\n    load_ms: 0\n    tokens_per_second: 0.001\n`,
  );
  const node = startNode(t, ['--config', join(dir, 'node.yaml')]);
  await waitForHealth(url, node.child);
  await createTiny(url, 'tiny');
  const stuck = fetch(`${url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'hello' }) }).then(
    (response) => response.text(),
    (error: Error) => error.message,
  );
  for (let ps = 0; ps < 100; ps += 1) {
    const { models } = (await (await fetch(`${url}/api/ps`)).json()) as { models: unknown[] };
    if (models.length > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const asked = Date.now();
  const impatient = cli(['stop', '--data-dir', dataDir, '--timeout', '1']);
  t.equal(impatient.status, 1, 'stop gives up after its --timeout');
  t.match(impatient.stderr, new RegExp(`node \\(pid ${node.child.pid}\\) has not exited after 1s; run stop again to end it at once`));
  t.equal(node.child.exitCode, null, 'the node still lets the request run');

  const exit = await exitWithin(node.exit, 8000);
  t.ok(exit, 'the node exited by itself');
  const took = exit!.at - asked;
  t.ok(took >= 2900, `the request had its stop_timeout first (${took} ms)`);
  t.ok(took < 3000 + 2000 + 1500, `the node was gone ${took} ms after the stop: stop_timeout 3 s, then at most the 2 s grace`);
  t.equal(exit!.code, 1, 'a stop that had to cut work exits 1');
  t.match(node.output.stdout, /stop deadline passed: cutting in-flight requests/);
  t.notMatch(await stuck, /"done":true/, 'the stuck request never completed');
  t.notOk(existsSync(join(dataDir, 'ollama-distributed.pid')), 'the pid file went with it');
  t.match(cli(['stop', '--data-dir', dataDir]).stderr, /no node is running/);
});

t.test('a node whose main thread hangs while stopping is killed at its deadline', async (t) => {
  const { config, url, marker } = await hangingNodeConfig('1s');
  const node = startNode(t, ['--config', config]);
  await waitForHealth(url, node.child);
  const asked = Date.now();
  node.child.kill('SIGTERM');
  const exit = await exitWithin(node.exit, 10_000);
  t.ok(existsSync(marker), 'the stop reached the hanging plugin');
  t.ok(exit, 'the node exited although its main thread never returned');
  t.equal(exit?.signal, 'SIGKILL', 'killed by its own deadline');
  const took = exit!.at - asked;
  t.ok(took >= 2900 && took < 3000 + 1500, `killed ${took} ms after the stop request: stop_timeout 1 s + 2 s grace`);
  t.match(node.output.stderr, /the node did not exit within 3000 ms of the stop request; killing it/);
});

t.test('a second SIGTERM ends a node at once, even while its main thread hangs', async (t) => {
  const { config, url, marker } = await hangingNodeConfig('60s');
  const node = startNode(t, ['--config', config]);
  await waitForHealth(url, node.child);
  node.child.kill('SIGTERM');
  for (let wait = 0; wait < 200 && !existsSync(marker); wait += 1) await new Promise((resolve) => setTimeout(resolve, 25));
  t.ok(existsSync(marker), 'the main thread is stuck in the plugin');
  t.equal(await exitWithin(node.exit, 500), undefined, 'one SIGTERM leaves it waiting out its 60 s stop_timeout');
  const asked = Date.now();
  node.child.kill('SIGTERM');
  const exit = await exitWithin(node.exit, 5000);
  t.equal(exit?.signal, 'SIGTERM', 'the second SIGTERM ended it');
  t.ok(exit && exit.at - asked < 1000, `within ${exit ? exit.at - asked : '-'} ms`);
});

t.test('after kill -9, stop leaves whatever process has the stale pid alone and start takes the data dir', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-crash-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const first = startNode(t, ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
  await waitForHealth(url, first.child);
  first.child.kill('SIGKILL');
  await first.exit;
  t.ok(existsSync(join(dataDir, 'ollama-distributed.pid')), 'the crashed node left its pid file');

  const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => void stranger.kill('SIGKILL'));
  writeFileSync(join(dataDir, 'ollama-distributed.pid'), `${stranger.pid}\n`);
  const stop = cli(['stop', '--data-dir', dataDir]);
  t.equal(stop.status, 1);
  t.match(stop.stderr, /no node is running on data dir/);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(stranger.exitCode, null, 'the sleep was not signalled');
  t.equal(stranger.signalCode, null, 'the sleep was not signalled');

  const second = startNode(t, ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
  const health = await waitForHealth(url, second.child);
  t.equal(health.status, 'healthy', 'start takes the data dir of the crashed node');
  t.equal(readFileSync(join(dataDir, 'ollama-distributed.pid'), 'utf8').trim(), String(second.child.pid), 'the pid file names the new node');

  const refused = cli(['start', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`]);
  t.equal(refused.status, 1, 'a second node on the taken data dir is still refused');
  t.match(refused.stderr, new RegExp(`a node \\(pid ${second.child.pid}\\) already runs on data dir`));

  const stopped = cli(['stop', '--data-dir', dataDir]);
  t.equal(stopped.status, 0, stopped.stderr);
  t.match(stopped.stdout, new RegExp(`stopped node \\(pid ${second.child.pid}\\)`));
  t.equal((await second.exit).code, 0);
  t.equal(stranger.exitCode, null, 'the sleep still runs');
});

t.test('a consensus port already in use stops the start, naming consensus.bind_addr', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const taken = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'od-cli-'));
  const result = cli(['start', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', taken]);
  t.equal(result.status, 1, result.stdout);
  t.match(result.stderr, `consensus.bind_addr ${taken}: cannot listen on ${taken}: the address is already in use`);
  t.notOk(existsSync(join(dataDir, 'ollama-distributed.pid')), 'nothing is left running');
});

t.test('beyond loopback without auth or a cluster key a node refuses to start, unless --insecure', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-cli-'));
  const exposed = ['start', '--data-dir', dataDir, '--listen', `0.0.0.0:${await freePort()}`, '--p2p-listen', '/ip4/0.0.0.0/tcp/0', '--consensus-bind', '127.0.0.1:0'];
  const refused = cli(exposed);
  t.equal(refused.status, 2, refused.stderr);
  t.match(refused.stderr, /refusing to start:\n- api.listen 0.0.0.0:\d+ is reachable beyond this machine and security.auth.enabled is false/);
  t.match(refused.stderr, /- p2p.listen \/ip4\/0.0.0.0\/tcp\/0 is reachable beyond this machine and p2p.cluster_key is empty/);
  t.match(refused.stderr, /--insecure/, 'it says how to go on anyway');
  t.notOk(existsSync(join(dataDir, 'ollama-distributed.pid')), 'nothing is left running');

  const port = await freePort();
  const child = spawn(process.execPath, [CLI, ...exposed.slice(0, 3), '--listen', `0.0.0.0:${port}`, ...exposed.slice(5), '--insecure'], { env: BASE_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.teardown(() => child.kill('SIGKILL'));
  await waitForHealth(`http://127.0.0.1:${port}`, child);
  t.match(output, /"insecure":true.*api.listen 0.0.0.0/, 'each exposure is logged as a warning');
  child.kill('SIGTERM');
  t.equal(await exited(child), 0);
});

t.test('TLS files that are missing or do not match stop the start, naming the setting', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-cli-'));
  const args = ['start', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0'];
  const missing = cli(args, { OLLAMA_SECURITY_TLS_ENABLED: 'true', OLLAMA_SECURITY_TLS_CERT_FILE: '/nonexistent/cert.pem', OLLAMA_SECURITY_TLS_KEY_FILE: '/nonexistent/key.pem' });
  t.equal(missing.status, 2, missing.stderr);
  t.match(missing.stderr, 'security.tls.cert_file /nonexistent/cert.pem: cannot read it (ENOENT)');
  t.notOk(existsSync(join(dataDir, 'ollama-distributed.pid')), 'nothing is left running');
});

t.test('conformance consensus runs the suite against the plugin it names, and fails for one that is not there', async (t) => {
  const missing = cli(['conformance', 'consensus', '--plugin', './no-such-backend.mjs'], {}, t.testdir({}));
  t.not(missing.status, 0);
  t.match(missing.stdout, /no-such-backend\.mjs/, 'the failure names the plugin');
  const help = cli(['conformance', 'consensus', '--help']);
  t.match(help.stdout, /--plugin <name\|path>/);
});
