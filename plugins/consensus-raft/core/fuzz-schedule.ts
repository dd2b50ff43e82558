// Test support: one randomized schedule of faults and client operations over a SimCluster,
// followed by healing, after which a leader must be elected and a write must commit everywhere.

import { isMember } from './conf.js';
import { InvariantViolation, prng, SimCluster } from './sim-network.js';
import type { NodeId } from './types.js';

export interface ScheduleResult {
  ticks: number;
  history: SimCluster['history'];
}

const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]!;

export function runSchedule(seed: number, chaosTicks = 150): ScheduleResult {
  const r = prng(seed ^ 0x5bd1e995);
  const size = pick(r, [1, 3, 3, 3, 5]);
  const voters = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const nonVoters = r() < 0.3 ? ['l1'] : [];
  const electionTicks = 10;
  const cluster = new SimCluster({
    seed,
    voters,
    nonVoters,
    electionTicks,
    heartbeatTicks: 1 + Math.floor(r() * 3),
    maxAppendEntries: 1 + Math.floor(r() * 4),
    preVote: r() < 0.7,
    checkQuorum: r() < 0.7,
    drop: r() * 0.15,
    duplicate: r() * 0.1,
    maxDelay: Math.floor(r() * 4),
    readyRate: 0.5 + r() * 0.5,
    compactEvery: r() < 0.5 ? 2 + Math.floor(r() * 8) : 0,
    clientTimeout: 40,
  });
  const joiner = r() < 0.3 ? 'j1' : undefined;
  if (joiner) cluster.addMember(joiner);
  const ids = [...cluster.members.keys()];
  const clients = [1, 2, 3];
  let value = 0;

  for (let t = 0; t < chaosTicks; t++) {
    const x = r();
    if (x < 0.02) {
      const live = cluster.live();
      if (live.length > 0) cluster.crash(pick(r, live).id);
    } else if (x < 0.06) {
      cluster.restart(pick(r, ids));
    } else if (x < 0.08) {
      const shuffled = [...ids].sort(() => r() - 0.5);
      const cut = 1 + Math.floor(r() * (ids.length - 1 || 1));
      cluster.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (x < 0.11) {
      cluster.heal();
    } else if (x < 0.12) {
      changeMembers(cluster, r, voters, joiner);
    } else if (x < 0.125) {
      const leader = cluster.leader();
      if (leader) {
        try {
          cluster.node(leader).transferLeadership(pick(r, voters));
        } catch {
          // The target was removed from the voters meanwhile.
        }
      }
    }
    for (const c of clients) {
      if (cluster.busy(c) || r() > 0.3) continue;
      const via = pick(r, ids);
      const key = pick(r, ['x', 'y']);
      if (r() < 0.5) cluster.put(c, via, key, String(++value));
      else cluster.get(c, via, key);
    }
    cluster.tick();
  }
  return { ticks: chaosTicks + converge(cluster, seed, electionTicks), history: cluster.history };
}

function changeMembers(cluster: SimCluster, r: () => number, voters: NodeId[], joiner: NodeId | undefined): void {
  const options = [
    () => cluster.changeMembers({ type: 'remove', id: pick(r, voters) }),
    () => cluster.changeMembers({ type: 'set', member: cluster.member(pick(r, voters)) }),
  ];
  if (cluster.members.has('l1')) {
    options.push(() => cluster.changeMembers({ type: 'set', member: { ...cluster.member('l1'), voter: r() < 0.5 } }));
  }
  if (joiner) options.push(() => cluster.changeMembers({ type: 'set', member: { ...cluster.member(joiner), voter: r() < 0.5 } }));
  pick(r, options)();
}

/** Heals everything; returns the ticks it took for a write to commit on every member of the config. */
function converge(cluster: SimCluster, seed: number, electionTicks: number): number {
  cluster.heal();
  cluster.drop = 0;
  cluster.duplicate = 0;
  for (const id of cluster.members.keys()) cluster.restart(id);
  const limit = 60 * electionTicks;
  const marker = 99;
  for (let t = 1; t <= limit; t++) {
    cluster.tick();
    const leader = cluster.leader();
    if (!leader) continue;
    const acked = cluster.acknowledged.filter((a) => a.clientId === marker);
    if (acked.length === 0) {
      if (!cluster.busy(marker)) cluster.put(marker, leader, 'marker', 'done');
      continue;
    }
    const conf = cluster.node(leader).status().conf;
    const target = Math.max(...cluster.acknowledged.map((a) => a.index));
    const members = [...cluster.members.keys()].filter((id) => isMember(conf, id));
    if (members.every((id) => cluster.appliedIndex(id) >= target)) return t;
  }
  throw new InvariantViolation(`liveness: seed ${seed} did not commit a write everywhere within ${limit} ticks of healing`);
}
