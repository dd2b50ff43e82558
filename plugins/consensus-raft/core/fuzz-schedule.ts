// Test support: one randomized schedule of faults and client operations over a SimCluster,
// followed by healing, after which a leader must be elected and a write must commit everywhere.

import { isMember } from './conf.js';
import { prng } from '../../../conformance/fixtures/prng.js';
import { InvariantViolation, SimCluster, type HistoryEvent } from './sim-network.js';
import type { NodeId } from './types.js';

export interface ScheduleResult {
  ticks: number;
  history: HistoryEvent[];
}

const cumulative = (xs: number[]): number[] => xs.map((_, i) => xs.slice(0, i + 1).reduce((a, b) => a + b, 0));
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]!;

export interface ScheduleOptions {
  chaosTicks?: number;
  /** The fault rates of the first version of this generator, under which the regression seeds were found. */
  fixedRates?: boolean;
}

export function runSchedule(seed: number, { chaosTicks = 150, fixedRates = false }: ScheduleOptions = {}): ScheduleResult {
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
  // Some schedules are calm, some crash members every few ticks.
  const [crash, restart, partition, heal, membership, transfer] = fixedRates
    ? [0.02, 0.06, 0.08, 0.11, 0.12, 0.125]
    : cumulative([0.005 + r() * 0.06, 0.02 + r() * 0.06, r() * 0.03, 0.01 + r() * 0.03, r() * 0.02, r() * 0.01]);

  for (let t = 0; t < chaosTicks; t++) {
    const x = r();
    if (x < crash) {
      const live = cluster.live();
      if (live.length > 0) cluster.crash(pick(r, live).id);
    } else if (x < restart) {
      cluster.restart(pick(r, ids));
    } else if (x < partition) {
      const shuffled = [...ids].sort(() => r() - 0.5);
      const cut = 1 + Math.floor(r() * (ids.length - 1 || 1));
      cluster.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    } else if (x < heal) {
      cluster.heal();
    } else if (x < membership) {
      changeMembers(cluster, r, voters, joiner);
    } else if (x < transfer) {
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
  const ticks = chaosTicks + converge(cluster, seed, electionTicks);
  const stale = staleRead(cluster.history);
  if (stale) throw new InvariantViolation(`linearizability: seed ${seed}: ${stale}`);
  return { ticks, history: cluster.history };
}

/**
 * A necessary condition for linearizable reads, cheap to check (every put writes a distinct
 * value): a get returns neither a value written only after it returned, nor one that a later
 * put, completed before the get began, had already overwritten.
 */
export function staleRead(history: HistoryEvent[]): string | undefined {
  const puts = history.filter((e) => e.kind === 'put');
  for (const get of history) {
    if (get.kind !== 'get' || get.return === Infinity) continue;
    const source = puts.find((p) => p.key === get.key && p.value === get.output);
    if (get.output !== '' && !source) return `get ${get.key} at ${get.call} returned ${get.output}, never written`;
    if (source && source.call > get.return) return `get ${get.key} at ${get.call} returned ${get.output}, written later`;
    const newer = puts.find(
      (q) => q.key === get.key && q !== source && q.return < get.call && (!source || q.call > source.return),
    );
    if (newer) {
      return `get ${get.key} at ${get.call}..${get.return} returned ${get.output || '(nothing)'}, overwritten by ${newer.value} at ${newer.call}..${newer.return}`;
    }
  }
  return undefined;
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
