// Placement across three real node processes: a new model is placed where it was made; asked to live
// on two nodes, it is placed on its holder and one more, agreed in consensus; draining a placed node
// moves its placement to the third.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';

const KEY = randomBytes(32).toString('base64url');

interface ReplicaEntry {
  model: string;
  replicas: number;
  placements: string[];
}

async function placements(cluster: Cluster, index: number): Promise<string[] | undefined> {
  const response = await fetch(`${cluster.nodes[index]!.apiUrl}/api/v1/models/replicas`);
  const { models } = (await response.json()) as { models: ReplicaEntry[] };
  return models.find((m) => m.model === 'tiny:latest')?.placements;
}

/** Waits until every node's consensus state places tiny:latest on one of `wants`; returns which. */
async function placedOn(cluster: Cluster, wants: string[][], what: string): Promise<string[]> {
  const sorted = wants.map((want) => JSON.stringify([...want].sort()));
  return waitUntil(
    async () => {
      const seen = (await Promise.all([0, 1, 2].map((i) => placements(cluster, i)))).map((p) => JSON.stringify(p));
      if (seen.every((p) => p === seen[0]) && sorted.includes(seen[0]!)) return JSON.parse(seen[0]!) as string[];
      throw new Error(`placements seen by node-1, node-2, node-3: ${seen.join(' ')}`);
    },
    { timeoutMs: 20_000, what },
  );
}

t.test('replicas 2 on three nodes, then a drain: the placement moves off the drained node', async (t) => {
  const cluster = await startCluster({ size: 3, engine: 'sim', clusterKey: KEY, t });
  await cluster.waitForMembers(3);
  const status = await cluster.status(0);
  const ids = Object.fromEntries(status.nodes.map((n) => [n.name, n.id]));
  const [holder, second, third] = [ids['node-1']!, ids['node-2']!, ids['node-3']!];
  await waitUntil(async () => (await cluster.status(2)).leader || undefined, { timeoutMs: 15_000, what: 'a consensus leader' });

  await createTiny(cluster.nodes[0]!.apiUrl, 'tiny');
  await waitUntil(async () => (await cluster.status(1)).nodes.some((n) => n.id === holder && (n as unknown as { models: string[] }).models.includes('tiny:latest')) || undefined, {
    timeoutMs: 10_000,
    what: 'node-2 seeing tiny on node-1',
  });
  // distribution.default_replicas is 1: the cluster learns the model and places it where it is, so nothing is copied.
  await placedOn(cluster, [[holder]], 'tiny registered and placed on its holder alone');
  t.pass('a new model stays where it was made');

  const set = await fetch(`${cluster.nodes[1]!.apiUrl}/api/v1/models/replicas`, { method: 'POST', body: JSON.stringify({ model: 'tiny', replicas: 2 }) });
  t.equal(set.status, 200, await set.clone().text());
  // The holder keeps its copy and one empty node takes the new one: the lower id, unless the
  // leader saw it silent past p2p.failure_timeout as it planned (a loaded machine).
  const placed = await placedOn(cluster, [[holder, second], [holder, third]], 'tiny placed on its holder and one empty node');
  const newcomer = placed.includes(second) ? second : third;
  const other = newcomer === second ? third : second;
  t.pass(`placed on node-1 and ${newcomer === second ? 'node-2' : 'node-3'}`);

  const drainedName = newcomer === second ? 'node-2' : 'node-3';
  const drained = await fetch(`${cluster.nodes[0]!.apiUrl}/api/v1/nodes/${drainedName}/drain`, { method: 'POST' });
  t.equal(drained.status, 200);
  await placedOn(cluster, [[holder, other]], `the placement moved off drained ${drainedName} to the third node`);
  t.pass(`moved from ${drainedName} to the third node`);
});
