// Consensus as users run it: real node processes (sim engine) agree on one leader through the
// cluster status, elect a new one after kill -9, hand leadership over on a clean stop, keep
// `consensus.voters` voters by replacing a lost one, and do the same over a three-member etcd.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { etcdMissing, startEtcd } from '../fixtures/etcd.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';

const KEY = randomBytes(32).toString('base64url');
const POLL_MS = 20;

interface ConsensusStatus {
  node_id: string;
  node_name: string;
  cluster_id: string | null;
  consensus: string;
  leader: { id: string; name: string | null; term: number } | null;
  term: number | null;
  applied_index: number;
  nodes: { id: string; name: string; healthy: boolean; role: 'leader' | 'voter' | 'non-voter' | null }[];
}

const statusOf = async (cluster: Cluster, i: number) => (await cluster.status(i)) as unknown as ConsensusStatus;

const running = (cluster: Cluster) => cluster.nodes.map((n) => n.index).filter((i) => cluster.isRunning(i));

/** The leader every given node names, by one id, name and term in one cluster, or undefined while they differ. */
async function agreed(cluster: Cluster, among = running(cluster)): Promise<{ leader: NonNullable<ConsensusStatus['leader']>; statuses: ConsensusStatus[] } | undefined> {
  const statuses = await Promise.all(among.map((i) => statusOf(cluster, i)));
  const [first] = statuses;
  if (!first?.leader || first.cluster_id === null) return undefined;
  const { id, name, term } = first.leader;
  const same = name !== null && statuses.every((s) => s.leader?.id === id && s.leader.name === name && s.leader.term === term && s.term === term && s.cluster_id === first.cluster_id);
  return same ? { leader: first.leader, statuses } : undefined;
}

/** Node names by role, as one node's status shows them. */
function roles(status: ConsensusStatus) {
  const named = (role: ConsensusStatus['nodes'][number]['role']) => status.nodes.filter((n) => n.role === role).map((n) => n.name).sort();
  return { leader: named('leader'), voters: [...named('leader'), ...named('voter')].sort(), nonVoters: named('non-voter') };
}

/** Node i's JSON log lines. */
function logLines(cluster: Cluster, i: number): Record<string, unknown>[] {
  return cluster.nodes[i]!.logs().split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

const indexOfNode = (cluster: Cluster, name: string | null) => {
  const node = cluster.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node named ${String(name)}`);
  return node.index;
};

/** Waits until `among` name one leader other than `old` (by id); returns it and the time it took from `since`. */
async function newLeader(cluster: Cluster, old: string, since: number, timeoutMs: number, among = running(cluster)) {
  const found = await waitUntil(async () => {
    const agreement = await agreed(cluster, among);
    return agreement && agreement.leader.id !== old ? agreement : undefined;
  }, { timeoutMs, what: `a new leader named by ${among.map((i) => cluster.nodes[i]!.name).join(', ')}`, intervalMs: POLL_MS });
  return { ...found, ms: Date.now() - since };
}

t.test('raft, three nodes: one leader everywhere; kill -9 it and the others elect one within 2 s; restarted, it follows and catches up; a clean stop hands leadership over', async (t) => {
  const cluster = await startCluster({ size: 3, engine: 'sim', clusterKey: KEY, t });
  const settled = await waitUntil(async () => {
    const agreement = await agreed(cluster);
    return agreement && agreement.statuses.every((s) => roles(s).voters.length === 3) ? agreement : undefined;
  }, { timeoutMs: 20_000, what: 'three voters and one leader named by every node' });
  for (const status of settled.statuses) {
    t.same(roles(status), { leader: [settled.leader.name], voters: ['node-1', 'node-2', 'node-3'], nonVoters: [] }, `${status.node_name}: one leader, three voters`);
    t.match(status, { consensus: 'raft', cluster_id: /^[0-9a-f-]{36}$/ });
  }
  const clusterId = settled.statuses[0]!.cluster_id;

  const old = indexOfNode(cluster, settled.leader.name);
  const oldId = settled.leader.id;
  const indexAtKill = (await statusOf(cluster, old)).applied_index;
  const killedAt = Date.now();
  await cluster.kill(old);
  const failover = await newLeader(cluster, oldId, killedAt, 5000);
  t.comment(`raft failover after kill -9 of the leader: ${failover.ms} ms`);
  t.ok(failover.ms < 2000, `the survivors agree on ${failover.leader.name} ${failover.ms} ms after the kill (< 2000)`);
  t.ok(failover.leader.term > settled.leader.term, 'in a later term');
  t.same(failover.statuses.map((s) => s.cluster_id), [clusterId, clusterId], 'in the same cluster');

  // The new leader's first entry is one the old leader never had.
  const survivorsIndex = await waitUntil(async () => {
    const index = (await statusOf(cluster, indexOfNode(cluster, failover.leader.name))).applied_index;
    return index > indexAtKill ? index : undefined;
  }, { timeoutMs: 5000, what: 'the log to move past the old leader' });
  await cluster.start(old);
  const rejoined = await waitUntil(async () => {
    const agreement = await agreed(cluster);
    if (!agreement) return undefined;
    const own = agreement.statuses.find((s) => s.node_name === cluster.nodes[old]!.name)!;
    const leader = agreement.statuses.find((s) => s.node_name === agreement.leader.name)!;
    return own.applied_index >= survivorsIndex && own.applied_index === leader.applied_index ? agreement : undefined;
  }, { timeoutMs: 10_000, what: `${cluster.nodes[old]!.name} following the leader at its index` });
  t.equal(rejoined.leader.id, failover.leader.id, 'the restarted node does not take leadership back');
  for (const status of rejoined.statuses) {
    t.equal(status.nodes.find((n) => n.name === cluster.nodes[old]!.name)?.role, 'voter', `${status.node_name} sees it back as a voter`);
    t.equal(status.cluster_id, clusterId);
  }
  const own = rejoined.statuses.find((s) => s.node_name === cluster.nodes[old]!.name)!;
  t.equal(own.node_id, oldId, 'on its data dir: the same node');
  t.ok(own.applied_index > indexAtKill, `its applied index went from ${indexAtKill} to ${own.applied_index}`);

  // Clean stop of the leader: it hands over before it goes.
  const leaving = indexOfNode(cluster, rejoined.leader.name);
  const others = running(cluster).filter((i) => i !== leaving);
  const stopAt = Date.now();
  const stopped = cluster.kill(leaving, 'SIGTERM');
  const handover = await newLeader(cluster, rejoined.leader.id, stopAt, 5000, others);
  await stopped;
  t.comment(`raft handover on a clean stop of the leader: ${handover.ms} ms (the process exited ${Date.now() - stopAt} ms after SIGTERM)`);
  t.ok(handover.ms < 1000, `the others agree on ${handover.leader.name} ${handover.ms} ms after the stop began (< 1000)`);
  // Without a handover the others would still elect one fast, on seeing its connections close.
  const handedTo = logLines(cluster, leaving).filter((line) => line.msg === 'consensus: handed leadership over').map((line) => line.leader);
  t.same(handedTo, [handover.leader.id], 'the stopping leader handed over to the node the others name');
});

t.test('raft, seven nodes with consensus.voters 3: three vote, four follow; kill -9 a voter that does not lead and another takes its place within 10 s', async (t) => {
  const cluster = await startCluster({ size: 7, engine: 'sim', clusterKey: KEY, t, config: () => ({ consensus: { voters: 3 } }) });
  const threeVoters = (agreement: Awaited<ReturnType<typeof agreed>>, among: string[]) =>
    agreement?.statuses.every((s) => {
      const seen = roles(s);
      const healthy = new Set(s.nodes.filter((n) => n.healthy).map((n) => n.name));
      return seen.voters.length === 3 && seen.voters.every((name) => healthy.has(name)) && [...seen.voters, ...seen.nonVoters].sort().join() === among.join();
    })
      ? agreement
      : undefined;
  const names = cluster.nodes.map((n) => n.name).sort();
  const settled = await waitUntil(async () => threeVoters(await agreed(cluster), names), { timeoutMs: 40_000, what: 'three voters and four non-voters on all seven nodes' });
  const before = roles(settled.statuses[0]!);
  for (const status of settled.statuses) t.same(roles(status), before, `${status.node_name}: the same leader, three voters and four non-voters`);
  t.equal(before.nonVoters.length, 4);

  const victim = before.voters.find((name) => name !== settled.leader.name)!;
  const killedAt = Date.now();
  await cluster.kill(indexOfNode(cluster, victim));
  const rest = names.filter((name) => name !== victim);
  const replaced = await waitUntil(async () => {
    const agreement = threeVoters(await agreed(cluster), names);
    return agreement && !roles(agreement.statuses[0]!).voters.includes(victim) ? agreement : undefined;
  }, { timeoutMs: 15_000, what: `a node voting in ${victim}'s place`, intervalMs: 100 });
  const ms = Date.now() - killedAt;
  const after = roles(replaced.statuses[0]!);
  t.comment(`voter replacement after kill -9 of ${victim}: ${ms} ms (${after.voters.filter((n) => !before.voters.includes(n)).join()} took its place)`);
  t.ok(ms < 10_000, `three healthy voters again ${ms} ms after the kill (< 10000)`);
  for (const status of replaced.statuses) {
    t.same(roles(status), after, `${status.node_name} agrees`);
    t.equal(status.nodes.find((n) => n.name === victim)?.role, 'non-voter', `${status.node_name}: ${victim} kept as a non-voter`);
  }
  t.ok(after.voters.every((name) => rest.includes(name)), 'every voter is alive');
  t.equal(replaced.leader.id, settled.leader.id, 'the leader stayed');
});

// Under CI a missing etcd is a failure; elsewhere a stated skip.
const noEtcd = etcdMissing(t);

/** The nodes one node's consensus state places `model` on, by name. */
async function placedBy(cluster: Cluster, index: number, model: string): Promise<string[]> {
  const status = await statusOf(cluster, index);
  const { models } = (await (await fetch(`${cluster.nodes[index]!.apiUrl}/api/v1/models/replicas`)).json()) as { models: { model: string; placements: string[] }[] };
  const ids = models.find((m) => m.model === model)?.placements ?? [];
  return ids.map((id) => status.nodes.find((n) => n.id === id)?.name ?? id).sort();
}

t.test('etcd, three nodes over a three-member etcd: one leader everywhere; models are placed; kill -9 the leader and another leads within 5 s', { skip: noEtcd }, async (t) => {
  const etcd = await startEtcd(t, { size: 3 });
  const prefix = `/od-e2e-${randomBytes(4).toString('hex')}`;
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    clusterKey: KEY,
    t,
    config: () => ({ consensus: { backend: 'etcd', etcd: { endpoints: etcd.endpoints, prefix } } }),
  });
  const settled = await waitUntil(() => agreed(cluster), { timeoutMs: 20_000, what: 'one leader named by every node' });
  for (const status of settled.statuses) t.match(status, { consensus: 'etcd', cluster_id: String, leader: { id: settled.leader.id, name: settled.leader.name } }, `${status.node_name} names ${settled.leader.name}`);

  // The leader records the etcd members in the cluster facts, so models get placements.
  await createTiny(cluster.nodes[0]!.apiUrl, 'tiny');
  const placedEverywhere = async (want: number) => {
    const seen = await Promise.all([0, 1, 2].map((i) => placedBy(cluster, i, 'tiny:latest')));
    if (seen.every((p) => p.length === want && JSON.stringify(p) === JSON.stringify(seen[0]))) return seen[0]!;
    throw new Error(`placements seen: ${JSON.stringify(seen)}`);
  };
  t.same(await waitUntil(() => placedEverywhere(1), { timeoutMs: 15_000, what: 'tiny placed on its holder' }), ['node-1'], 'a new model is placed on its holder');
  const set = await fetch(`${cluster.nodes[2]!.apiUrl}/api/v1/models/replicas`, { method: 'POST', body: JSON.stringify({ model: 'tiny', replicas: 2 }) });
  t.equal(set.status, 200, await set.clone().text());
  t.ok((await waitUntil(() => placedEverywhere(2), { timeoutMs: 15_000, what: 'tiny placed on two nodes' })).includes('node-1'), 'replicas 2 adds a second node beside the holder');

  const killedAt = Date.now();
  await cluster.kill(indexOfNode(cluster, settled.leader.name));
  const failover = await newLeader(cluster, settled.leader.id, killedAt, 10_000);
  t.comment(`etcd failover after kill -9 of the leader: ${failover.ms} ms`);
  t.ok(failover.ms < 5000, `the survivors agree on ${failover.leader.name} ${failover.ms} ms after the kill (< 5000)`);
  t.same(failover.statuses.map((s) => s.cluster_id), [settled.statuses[0]!.cluster_id, settled.statuses[0]!.cluster_id], 'in the same cluster');
});
