// The cluster as a user deploys it: real node processes from config files, the second and third
// joining through the first with the deployment guide's address form, served through any node.

import { randomBytes } from 'node:crypto';
import { Ollama } from 'ollama';
import t from 'tap';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';

const KEY = randomBytes(32).toString('base64url');
const DETERMINISTIC = { temperature: 0, seed: 7, num_predict: 8 };
/** Fields that say when and how long, which differ between any two runs. */
const TIMING = ['created_at', 'total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'];

function withoutTiming(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !TIMING.includes(key)));
}

async function tagsOf(url: string): Promise<string[]> {
  const { models } = (await (await fetch(`${url}/api/tags`)).json()) as { models: { name: string }[] };
  return models.map((m) => m.name);
}

async function healthyNames(cluster: Cluster, index: number): Promise<string[]> {
  return (await cluster.status(index)).nodes.filter((n) => n.healthy).map((n) => n.name).sort();
}

t.test('three nodes from three config files see each other and serve a model held by one', async (t) => {
  const cluster = await startCluster({ size: 3, engine: 'llama-cpp', clusterKey: KEY, t });
  await cluster.waitForMembers(3, { timeoutMs: 5000 });
  const [a, , c] = cluster.nodes;
  for (let i = 0; i < 3; i += 1) {
    const status = await cluster.status(i);
    const health = (await (await fetch(`${cluster.nodes[i].apiUrl}/api/v1/health`)).json()) as { node_id: string };
    t.equal(status.node_id, health.node_id, `${cluster.nodes[i].name}: one node id in health and cluster status`);
    t.same(await healthyNames(cluster, i), ['node-1', 'node-2', 'node-3']);
  }

  await createTiny(c.apiUrl, 'only-on-c');
  await waitUntil(async () => (await tagsOf(a.apiUrl)).includes('only-on-c:latest') || undefined, { timeoutMs: 5000, what: "node-1 listing node-3's model" });
  t.same((await tagsOf(a.apiUrl)).filter((n) => n === 'only-on-c:latest'), ['only-on-c:latest'], 'listed once');

  const viaA = new Ollama({ host: a.apiUrl });
  const direct = new Ollama({ host: c.apiUrl });
  const request = { model: 'only-on-c', prompt: 'hello there', options: DETERMINISTIC };
  const forwarded = await viaA.generate({ ...request, stream: false });
  const served = await direct.generate({ ...request, stream: false });
  t.ok((forwarded.response ?? '').length > 0, 'a response came through node-1');
  t.same(withoutTiming(forwarded), withoutTiming(served), 'the same answer through node-1 as from node-3');

  const chunks = async (client: Ollama) => {
    const out: object[] = [];
    for await (const part of await client.generate({ ...request, stream: true })) out.push(withoutTiming(part));
    return out;
  };
  const streamedViaA = await chunks(viaA);
  t.ok(streamedViaA.length > 2, 'streamed in chunks');
  t.same(streamedViaA, await chunks(direct), 'the same chunks through node-1 as from node-3');

  const raw = await fetch(`${a.apiUrl}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'only-on-c', messages: [{ role: 'user', content: 'hi' }], stream: false, options: DETERMINISTIC }) });
  t.equal(raw.status, 200);
  t.equal(raw.headers.get('x-served-by'), 'node-3');
  await raw.arrayBuffer();

  // kill -9 the only holder: it leaves within 2 s, and a request for its model gets an answer, not a hang.
  const killedAt = Date.now();
  await cluster.kill(2);
  await waitUntil(async () => !(await healthyNames(cluster, 0)).includes('node-3') || undefined, { timeoutMs: 2000, what: 'node-3 unhealthy on node-1' });
  t.ok(Date.now() - killedAt <= 2000, `node-3 unhealthy ${Date.now() - killedAt} ms after kill -9`);
  const askedAt = Date.now();
  const orphan = await fetch(`${a.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'only-on-c', prompt: 'hi', stream: false }), signal: AbortSignal.timeout(10_000) });
  t.ok(orphan.status >= 400, `refused with ${orphan.status}`);
  t.match(((await orphan.json()) as { error: string }).error, /only-on-c/, 'the error names the model');
  t.ok(Date.now() - askedAt < 5000, 'answered at once');

  // Restarted on its data dir, it is the same node again, and serves its model through node-1.
  const idBefore = (await cluster.status(0)).nodes.find((n) => n.name === 'node-3')?.id;
  await cluster.start(2);
  await cluster.waitForMembers(3, { timeoutMs: 5000 });
  t.equal((await cluster.status(0)).nodes.find((n) => n.name === 'node-3' && n.healthy)?.id, idBefore, 'node-3 back with its node id');
  await waitUntil(
    async () => (await fetch(`${a.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'only-on-c', prompt: 'hi', stream: false, options: DETERMINISTIC }) })).headers.get('x-served-by') === 'node-3' || undefined,
    { timeoutMs: 5000, what: "node-3's model served again through node-1" },
  );
});

t.test('kill -9 one of two holders during 200 non-streaming requests: none fails', async (t) => {
  const cluster = await startCluster({ size: 3, engine: 'sim', clusterKey: KEY, t });
  await cluster.waitForMembers(3);
  const [a, b, c] = cluster.nodes;
  await createTiny(b.apiUrl, 'shared');
  await createTiny(c.apiUrl, 'shared');
  await waitUntil(
    async () => {
      const status = (await cluster.status(0)) as unknown as { nodes: { name: string; models: unknown[] }[]; conflicts: unknown[] };
      const holders = status.nodes.filter((n) => JSON.stringify(n.models).includes('shared:latest')).map((n) => n.name);
      return (holders.length === 2 && status.conflicts.length === 0) || undefined;
    },
    { timeoutMs: 5000, what: 'node-2 and node-3 announced as holders of one digest' },
  );

  const statuses: number[] = [];
  const servedBy = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < 200) {
      next += 1;
      if (next === 60) void cluster.kill(2);
      const response = await fetch(`${a.apiUrl}/api/generate`, {
        method: 'POST',
        body: JSON.stringify({ model: 'shared', prompt: 'hi', stream: false, options: { num_predict: 4 } }),
        signal: AbortSignal.timeout(30_000),
      });
      statuses.push(response.status);
      const by = response.headers.get('x-served-by') ?? 'none';
      servedBy.set(by, (servedBy.get(by) ?? 0) + 1);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.equal(statuses.length, 200);
  t.same(statuses.filter((s) => s !== 200), [], 'every request answered 200');
  t.ok((servedBy.get('node-3') ?? 0) > 0, `node-3 served some before it died (${JSON.stringify([...servedBy])})`);
  t.ok((servedBy.get('node-2') ?? 0) > 0, 'node-2 served the rest');
  t.notOk(cluster.isRunning(2));
});

t.test('a node with another cluster key, or none, cannot join and says why', async (t) => {
  const members = await startCluster({ size: 2, engine: 'sim', clusterKey: KEY, t });
  await members.waitForMembers(2);
  const bootstrap = members.nodes[0].p2pAddress;
  for (const [label, key] of [['another key', randomBytes(32).toString('base64url')], ['no key', undefined]] as const) {
    const before = members.nodes[0].logs().length;
    const outsider = await startCluster({
      size: 1,
      engine: 'sim',
      t,
      config: () => ({ node: { name: `outsider-${label.replace(' ', '-')}` }, p2p: { bootstrap: [bootstrap], ...(key ? { cluster_key: key } : {}) } }),
    });
    const startedAt = Date.now();
    await waitUntil(() => /cluster key/i.test(outsider.nodes[0].logs()) || undefined, { timeoutMs: 5000, what: `the ${label} node logging its refusal` });
    await waitUntil(() => /cluster key/i.test(members.nodes[0].logs().slice(before)) || undefined, { timeoutMs: 5000, what: `node-1 logging the ${label} refusal` });
    t.ok(Date.now() - startedAt <= 5000, `${label}: refused and logged on both sides within 5 s`);
    for (let i = 0; i < 2; i += 1) {
      const names = (await members.status(i)).nodes.map((n) => n.name);
      t.notOk(names.some((n) => n.startsWith('outsider')), `${label}: node-${i + 1}'s status does not list it`);
    }
    t.same((await (outsider.status(0))).nodes.map((n) => n.name), [`outsider-${label.replace(' ', '-')}`], `${label}: the outsider sees only itself`);
    await outsider.stop();
  }
});
