// Model distribution over rate-limited links: five real node processes (sim engine, cluster key,
// auth), each in a network namespace of its own whose link tc caps each way (netns.ts). A 256 MiB
// model created on node-1 is copied to node-2 beside raw TCP of the same bytes over the same links,
// to nodes 2–5 at once beside one copy, and to nodes 2–5 one after another (the naive one-source
// figure: the same total time as four copies sharing node-1's uplink). Each of these copies is of a
// model of its own, made on node-1 before the links are capped, so node-1 is its only holder. Where
// docker-registry is installed, it runs in a namespace of its own too, and nodes 2–5 then pull the
// same size of model from it at once (N registry pulls over the same links).

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startCluster, waitUntil, type Cluster } from '../conformance/fixtures/cluster.js';
import { tinyGgufBytes } from '../conformance/fixtures/tiny-gguf.js';
import type { TransferEntry } from '../core/distribution/transfers.js';
import { silentLogger } from '../core/log.js';
import { parseModelName } from '../core/models/name.js';
import { pushModel } from '../core/registry/push.js';
import { dockerRegistryMissing, startDockerRegistry, type TestRegistry } from '../core/registry/testing/docker-registry.js';
import { seededBytes, writeModel } from '../core/registry/testing/model.js';
import { fsStore } from '../plugins/storage-fs/index.js';
import { signHs256 } from '../plugins/auth-jwt/sign.js';
import { limitedLinks, type LimitedLinks } from './netns.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface DistributionBenchOptions {
  sizeMiB?: number;
  /** Each link's cap, each way. */
  mbit?: number;
  /** Nodes copying from node-1 in the one-to-many case. */
  receivers?: number;
}

const TCP_PORT = 7790;
const SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const TOKEN = signHs256({ sub: 'bench', role: 'admin', iss: 'ollama-distributed', iat: now(), exp: now() + 3600 }, SECRET);
const AUTH = { authorization: `Bearer ${TOKEN}` };
const TCP_PIPE = join(import.meta.dirname, 'tcp-pipe.js');

interface StatusWithModels {
  nodes: { name: string; healthy: boolean; models: string[] }[];
}

async function api(cluster: Cluster, index: number, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<Response> {
  return fetch(`${cluster.nodes[index]!.apiUrl}${path}`, {
    method,
    headers: AUTH,
    body: body === undefined ? undefined : body instanceof Uint8Array ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** Uploads a tiny GGUF padded to `size` with random bytes to node-1 and creates `model` from it. */
async function createModel(cluster: Cluster, model: string, size: number): Promise<void> {
  const tiny = tinyGgufBytes();
  const gguf = Buffer.concat([tiny, randomBytes(size - tiny.byteLength)]);
  const digest = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
  const upload = await api(cluster, 0, 'POST', `/api/blobs/${digest}`, gguf, 120_000);
  if (upload.status !== 201 && upload.status !== 200) throw new Error(`blob upload answered ${upload.status}: ${await upload.text()}`);
  const created = await api(cluster, 0, 'POST', '/api/create', { model, files: { 'big.gguf': digest }, stream: false }, 60_000);
  if (created.status !== 200) throw new Error(`create answered ${created.status}: ${await created.text()}`);
}

/** Waits until each of `observers` sees node-1 holding every one of `models`. */
async function heldByNode1(cluster: Cluster, observers: number[], models: string[]): Promise<void> {
  await waitUntil(
    async () => {
      for (const observer of observers) {
        const status = (await cluster.status(observer)) as unknown as StatusWithModels;
        const held = status.nodes.find((n) => n.name === cluster.nodes[0]!.name && n.healthy)?.models ?? [];
        const missing = models.filter((model) => !held.includes(model));
        if (missing.length > 0) throw new Error(`${cluster.nodes[observer]!.name} does not see node-1 holding ${missing.join(', ')}`);
      }
      return true;
    },
    { timeoutMs: 30_000, what: 'every node seeing node-1 holding the models' },
  );
}

/** Seconds from asking `receivers` to copy `model` at once until the last of them reports its copy done. */
async function copySeconds(cluster: Cluster, model: string, receivers: number[]): Promise<number> {
  const start = Date.now();
  await Promise.all(
    receivers.map(async (index) => {
      const response = await api(cluster, index, 'POST', '/api/v1/models/copy', { model });
      if (response.status !== 202) throw new Error(`copy on ${cluster.nodes[index]!.name} answered ${response.status}: ${await response.text()}`);
    }),
  );
  await Promise.all(
    receivers.map((index) =>
      waitUntil(
        async () => {
          const response = await api(cluster, index, 'GET', '/api/v1/transfers');
          const { transfers } = (await response.json()) as { transfers: TransferEntry[] };
          const entry = transfers.filter((e) => e.model === model && Date.parse(e.started_at) >= start).sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at))[0];
          if (entry?.state === 'failed') throw new Error(`the copy on ${cluster.nodes[index]!.name} failed: ${entry.error}`);
          return entry?.state === 'done' || undefined;
        },
        { timeoutMs: 600_000, what: `the copy on ${cluster.nodes[index]!.name}` },
      ),
    ),
  );
  return (Date.now() - start) / 1000;
}

/** Pushes a model of `size` bytes to the registry from a store of this process; resolves with its name. */
async function pushToRegistry(registry: TestRegistry, size: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'od-bench-push-'));
  try {
    const source = fsStore({ model_dir: dir })({ logger: silentLogger() });
    await source.start();
    const model = `${registry.host}/library/bench:latest`;
    const name = parseModelName(model);
    await writeModel(source, name, seededBytes(size, 42));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    await source.stop();
    return model;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Seconds from asking `receivers` to pull `model` from its registry at once until the last pull answers. */
async function pullSeconds(cluster: Cluster, model: string, receivers: number[]): Promise<number> {
  const start = Date.now();
  await Promise.all(
    receivers.map(async (index) => {
      const response = await api(cluster, index, 'POST', '/api/pull', { model, insecure: true, stream: false }, 600_000);
      if (response.status !== 200) throw new Error(`pull on ${cluster.nodes[index]!.name} answered ${response.status}: ${await response.text()}`);
    }),
  );
  return (Date.now() - start) / 1000;
}

/** Seconds for `size` bytes of raw TCP from namespace `from` to namespace `to`, from the connection to its end. */
async function rawTcpSeconds(links: LimitedLinks, from: number, to: number, size: number): Promise<number> {
  const [command, ...args] = [...links.wrap(to), process.execPath, TCP_PIPE, 'receive', links.host(to), String(TCP_PORT)];
  const receiver = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let output = '';
    const ended = new Promise<string>((resolve, reject) => {
      receiver.on('error', reject);
      receiver.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`the TCP receiver exited with ${code}`))));
    });
    await new Promise<void>((resolve, reject) => {
      receiver.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('ready')) resolve();
      });
      receiver.once('exit', () => reject(new Error('the TCP receiver exited before it listened')));
    });
    const [sendCommand, ...sendArgs] = [...links.wrap(from), process.execPath, TCP_PIPE, 'send', links.host(to), String(TCP_PORT), String(size)];
    const sender = spawn(sendCommand!, sendArgs, { stdio: 'inherit' });
    const result = JSON.parse((await ended).split('\n').find((line) => line.startsWith('{'))!) as { bytes: number; seconds: number };
    sender.kill();
    if (result.bytes !== size) throw new Error(`raw TCP moved ${result.bytes} of ${size} bytes`);
    return result.seconds;
  } finally {
    if (receiver.exitCode === null) receiver.kill('SIGKILL');
  }
}

/** CPU seconds (user + system) the node processes have used so far. */
async function cpuSeconds(cluster: Cluster): Promise<number> {
  let ticks = 0;
  for (const node of cluster.nodes) {
    const stat = await readFile(`/proc/${node.pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

export async function run(options: DistributionBenchOptions = {}): Promise<BenchmarkRow[]> {
  const sizeMiB = options.sizeMiB ?? 256;
  const size = sizeMiB * 1024 * 1024;
  const mbit = options.mbit ?? 200;
  const receivers = Array.from({ length: options.receivers ?? 4 }, (_, i) => i + 1);
  const registryIndex = receivers.length + 1;
  const links = await limitedLinks(registryIndex + 1);
  let cluster: Cluster | undefined;
  let registry: TestRegistry | undefined;
  try {
    cluster = await startCluster({
      size: receivers.length + 1,
      engine: 'sim',
      clusterKey: randomBytes(32).toString('base64url'),
      token: TOKEN,
      host: links.host,
      wrap: links.wrap,
      config: () => ({ security: { auth: { enabled: true, secret_key: SECRET } } }),
    });
    await cluster.waitForMembers(receivers.length + 1, { timeoutMs: 60_000 });
    // Made before the links are capped: the uploads are not what is measured.
    const models = { one: 'one:latest', many: 'many:latest', naive: receivers.map((i) => `naive-${i}:latest`) };
    for (const model of [models.one, models.many, ...models.naive]) await createModel(cluster, model, size);
    await heldByNode1(cluster, receivers, [models.one, models.many, ...models.naive]);
    if (!dockerRegistryMissing()) registry = await startDockerRegistry({ listen: links.host(registryIndex), wrap: links.wrap(registryIndex) });
    const pulled = registry && (await pushToRegistry(registry, size));
    await links.limit(mbit);

    const raw = await rawTcpSeconds(links, 0, 1, size);
    const one = await copySeconds(cluster, models.one, [1]);
    const cpuBefore = await cpuSeconds(cluster);
    const many = await copySeconds(cluster, models.many, receivers);
    const busyCores = ((await cpuSeconds(cluster)) - cpuBefore) / many;
    let naive = 0;
    for (const [i, index] of receivers.entries()) naive += await copySeconds(cluster, models.naive[i]!, [index]);
    const pulls = pulled === undefined ? undefined : await pullSeconds(cluster, pulled, receivers);

    const link = `${sizeMiB} MiB over ${mbit} Mbit/s links`;
    const n = receivers.length;
    const seconds = (name: string, value: number, baselineName: string, baseline: number): BenchmarkRow => ({
      name,
      value,
      unit: 's',
      baseline,
      baselineName,
      ratio: value / baseline,
      better: 'lower',
    });
    return [
      seconds(`copy ${link}, node-1 to node-2`, one, 'raw TCP node-1 to node-2', raw),
      seconds(`copy ${link}, node-1 to ${n} nodes at once`, many, 'one copy', one),
      seconds(`copy ${link}, node-1 to ${n} nodes one after another (naive one source)`, naive, 'one copy', one),
      seconds(`copy ${link}, node-1 to ${n} nodes at once`, many, 'naive one source', naive),
      ...(pulls === undefined
        ? []
        : [
            seconds(`${n} nodes pulling ${sizeMiB} MiB at once from docker-registry over the same links`, pulls, 'one copy', one),
            seconds(`copy ${link}, node-1 to ${n} nodes at once`, many, `${n} registry pulls at once`, pulls),
          ]),
      {
        name: `CPU cores busy (all nodes) during the copy to ${n} nodes at once`,
        value: busyCores,
        unit: 'cores',
        baseline: cpus().length,
        baselineName: 'cores on this machine',
        ratio: busyCores / cpus().length,
        better: 'lower',
      },
    ];
  } finally {
    await cluster?.stop();
    await registry?.stop();
    await links.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
