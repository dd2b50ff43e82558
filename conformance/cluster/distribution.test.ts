// Model copies between real node processes: a 256 MiB model created on node-1 and given 3 desired
// replicas reaches node-2 and node-3 through the chunk protocol as the nodes follow the placement,
// each copy has the right sha256 and generates, and a copy killed midway (SIGKILL) resumes by itself
// after the restart, from its verified chunks, because the placement still names the node.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { TransferEntry } from '../../core/distribution/transfers.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';
import { tinyGgufBytes } from '../fixtures/tiny-gguf.js';

const KEY = randomBytes(32).toString('base64url');
const MODEL = 'big:latest';
const SIZE = 256 * 1024 * 1024;
/** Past the config blob and a few chunks of the model's: the kill lands inside the big blob. */
const QUARTER = SIZE / 4;
const BALANCER = join(import.meta.dirname, '..', 'fixtures', 'prefer-local-balancer.js');

async function transfers(cluster: Cluster, index: number): Promise<TransferEntry[]> {
  const response = await fetch(`${cluster.nodes[index].apiUrl}/api/v1/transfers`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`transfers answered ${response.status}`);
  return ((await response.json()) as { transfers: TransferEntry[] }).transfers;
}

interface ReplicaEntry {
  model: string;
  replicas: number;
  placements: string[];
  present: string[];
}

async function replicaEntry(cluster: Cluster, index: number): Promise<ReplicaEntry | undefined> {
  const response = await fetch(`${cluster.nodes[index].apiUrl}/api/v1/models/replicas`, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`replicas answered ${response.status}`);
  return ((await response.json()) as { models: ReplicaEntry[] }).models.find((m) => m.model === MODEL);
}

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'core', 'cli', 'main.js');

function transfersCommand(apiUrl: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [CLI, 'transfers'], { env: { ...process.env, OLLAMA_HOST: apiUrl }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout }));
  });
}

/** The latest copy of the model: a node following its placement tries again after a failed one. */
const copyOf = (entries: TransferEntry[]) => entries.findLast((entry) => entry.model === MODEL);

async function copied(cluster: Cluster, index: number): Promise<TransferEntry> {
  return waitUntil(
    async () => {
      const entry = copyOf(await transfers(cluster, index));
      return entry?.state === 'done' ? entry : undefined;
    },
    { timeoutMs: 90_000, what: `the copy of ${MODEL} on ${cluster.nodes[index].name}` },
  );
}

async function seenHolding(cluster: Cluster, index: number, holder: string): Promise<void> {
  await waitUntil(
    async () => {
      const status = (await cluster.status(index)) as unknown as { nodes: { name: string; models: string[]; healthy: boolean }[] };
      return status.nodes.some((n) => n.name === holder && n.healthy && n.models.includes(MODEL)) || undefined;
    },
    { timeoutMs: 10_000, what: `${cluster.nodes[index].name} sees ${holder} holding ${MODEL}` },
  );
}

t.test('a 256 MiB model reaches two more nodes in verified chunks; a copy killed midway resumes', async (t) => {
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    clusterKey: KEY,
    t,
    config: () => ({ scheduler: { algorithm: BALANCER, worker_count: 1 }, engine: { options: { tokens_per_second: 2000, ttft_ms: 1 } } }),
  });
  await cluster.waitForMembers(3);

  const tiny = tinyGgufBytes();
  const gguf = Buffer.concat([tiny, randomBytes(SIZE - tiny.byteLength)]);
  const digest = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
  const source = cluster.nodes[0].apiUrl;
  const upload = await fetch(`${source}/api/blobs/${digest}`, { method: 'POST', body: gguf, signal: AbortSignal.timeout(60_000) });
  t.ok(upload.status === 201 || upload.status === 200, `the blob is uploaded to node-1 (${upload.status})`);
  const created = await fetch(`${source}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'big', files: { 'big.gguf': digest }, stream: false }) });
  t.equal(created.status, 200, 'node-1 creates the model');
  await seenHolding(cluster, 1, 'node-1');
  await seenHolding(cluster, 2, 'node-1');

  for (const [body, status, what] of [
    [{}, 400, 'a copy without a model'],
    [{ model: 'Not A Name!' }, 400, 'a copy of an invalid name'],
    [{ model: 'nowhere' }, 404, 'a copy of a model no node holds'],
    [[1], 400, 'a body that is not an object'],
  ] as const) {
    const refused = await fetch(`${cluster.nodes[1].apiUrl}/api/v1/models/copy`, { method: 'POST', body: JSON.stringify(body) });
    t.equal(refused.status, status, `${what} is refused with ${status}`);
    t.type(((await refused.json()) as { error?: unknown }).error, 'string', 'in the Ollama error shape');
  }

  const began = Date.now();
  const placed = await fetch(`${cluster.nodes[1].apiUrl}/api/v1/models/replicas`, { method: 'POST', body: JSON.stringify({ model: 'big', replicas: 3 }) });
  t.equal(placed.status, 200, 'the model is given 3 desired replicas');
  const midway = await waitUntil(
    async () => {
      const entry = copyOf(await transfers(cluster, 1));
      return entry && entry.done >= QUARTER && entry.done < entry.total ? entry : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 10, what: 'node-2 a quarter through its copy' },
  );
  await cluster.kill(1);
  t.ok(midway.done < midway.total, `node-2 was killed midway (${midway.done} of ${midway.total} bytes verified)`);
  t.ok(midway.holders.includes('node-1'), 'node-2 copied from node-1');

  await cluster.start(1);
  await cluster.waitForMembers(3);
  const resumed = await copied(cluster, 1);
  t.ok(resumed.kept >= midway.done, `after the restart node-2 kept the ${midway.done} bytes verified before the kill (${resumed.kept} kept)`);
  t.ok(resumed.fetched < resumed.total, `and fetched ${resumed.fetched} of ${resumed.total} bytes`);
  t.equal(resumed.done, resumed.total, 'node-2 holds every byte');
  const third = await copied(cluster, 2);
  t.comment(`copies done ${Date.now() - began} ms after the first started; node-3 copied from ${third.holders.join(', ')}`);
  t.equal(third.done, third.total, 'node-3 holds every byte');
  const ids = (await cluster.status(0)).nodes.map((node) => node.id).sort();
  const agreed = await waitUntil(async () => {
    const entry = await replicaEntry(cluster, 0);
    return entry && entry.present.length === 3 ? entry : undefined;
  }, { timeoutMs: 15_000, what: `every node reported a replica of ${MODEL}` });
  t.same([...agreed.present].sort(), ids, 'consensus lists the three nodes holding a verified copy');
  t.same([...agreed.placements].sort(), ids, 'the placement names the three nodes');

  const shown = await transfersCommand(cluster.nodes[1].apiUrl);
  t.equal(shown.code, 0, 'the transfers command succeeds');
  t.match(shown.stdout, /^big:latest 100% ▕█+▏ .* done$/m, `the transfers command shows the finished copy:\n${shown.stdout}`);

  for (const index of [1, 2]) {
    const node = cluster.nodes[index];
    const bytes = await readFile(join(node.dataDir, 'models', 'blobs', `sha256-${digest.slice(7)}`));
    t.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest, `${node.name}'s copy has the model's sha256`);
    const answer = await fetch(`${node.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'big', prompt: 'hi', stream: false, options: { num_predict: 3 } }) });
    t.equal(answer.status, 200, `${node.name} generates with its copy`);
    t.equal(answer.headers.get('x-served-by'), node.name, `${node.name} ran it itself`);
    await answer.arrayBuffer();
  }
});
