// The built-in Raft against etcd as the consensus behind the same contract: three members each on
// this machine, the same KV puts of small values, (a) one at a time to the leader and via a
// follower, (b) 64 in flight, and (c) failover: the leader member killed with SIGKILL, until a
// survivor names a new leader and until a write succeeds again.
//
// Both run as the conformance suite runs them: each member a process of its own
// (conformance/consensus/process-cluster.ts), called over newline-delimited JSON on its
// stdin/stdout. That path is the same for both and costs each call a pipe round trip plus a
// mirror of the member's whole state on every reply and every event (one `applied` line per
// member per commit), so the key space is kept small. The "proxy round trip" rows measure it
// with a call that does no consensus work (raft: transferLeadership on a follower, which returns
// at once; etcd: a proposal it refuses before writing). etcd's members are etcd's own three
// servers with its default timings and fsync; the etcd backend's nodes are the three member
// processes on top of it, and its leader is the node holding the oldest election lease.

import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { kvCommand, type KvState } from '../conformance/consensus/kv-state-machine.js';
import { processClusterFactory } from '../conformance/consensus/process-cluster.js';
import type { ConsensusCluster, SuiteTest } from '../conformance/consensus/suite.js';
import { etcdBinary, startEtcd } from '../conformance/fixtures/etcd.js';
import type { Consensus } from '../core/contracts/consensus.js';
import { BenchmarkUnavailable, formatRow, type BenchmarkRow } from './row.js';

export interface ConsensusBenchOptions {
  /** Measured one-at-a-time puts to the leader, after the warm-up. */
  sequential?: number;
  /** Measured one-at-a-time puts via a follower. */
  viaFollower?: number;
  /** Measured puts with `inFlight` outstanding at once. */
  pipelined?: number;
  inFlight?: number;
  /** Leader kills per backend; the median is reported. */
  failovers?: number;
}

const SIZE = 3;
const KEYS = 32;
const VALUE = 'v'.repeat(16);
const WARM_UP = 300;
const PROXY_CALLS = 500;
const DEADLINE_MS = 15_000;

type Member = Consensus<KvState>;

interface Latencies {
  perSecond: number;
  p50: number;
  p99: number;
}

interface Figures {
  sequential: Latencies;
  viaFollower: Latencies;
  pipelined: Latencies;
  proxyMs: number;
  failoverLeaderMs: number;
  failoverWriteMs: number;
}

/** What the cluster factories need of a tap test: somewhere to put their teardowns. */
class Teardowns {
  private readonly fns: (() => unknown)[] = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  fail(message: string): void {
    throw new Error(message);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse()) await fn();
  }
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

async function until(what: string, condition: () => boolean, pollMs = 5): Promise<void> {
  const deadline = performance.now() + DEADLINE_MS;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${DEADLINE_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

const leaderIndex = (c: ConsensusCluster): number => c.members().findIndex((m, i) => m?.leader()?.id === c.nodeId(i));

/** Every live member names the same leader, and that leader is live and says so itself. */
function agreed(c: ConsensusCluster): boolean {
  const live = c.members().filter((m): m is Member => m !== undefined);
  const id = live[0]?.leader()?.id;
  return id !== undefined && live.every((m) => m.leader()?.id === id) && leaderIndex(c) >= 0;
}

let sequence = 0;
const put = (member: Member) => member.propose(kvCommand.put(`k${sequence++ % KEYS}`, VALUE));

async function oneAtATime(member: Member, count: number): Promise<Latencies> {
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await put(member);
    samples.push(performance.now() - t0);
  }
  return { perSecond: count / ((performance.now() - started) / 1000), p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

async function inFlight(member: Member, count: number, concurrency: number): Promise<Latencies> {
  const samples: number[] = [];
  let issued = 0;
  const started = performance.now();
  const worker = async () => {
    while (issued < count) {
      issued++;
      const t0 = performance.now();
      await put(member);
      samples.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSecond: count / ((performance.now() - started) / 1000), p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

/** The stdin/stdout path alone: a call the member answers without any consensus work. */
async function proxyRoundTrip(trivial: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < PROXY_CALLS; i++) {
    const t0 = performance.now();
    await trivial().catch(() => undefined);
    samples.push(performance.now() - t0);
  }
  return quantile(samples, 0.5);
}

/** Kills the leader; the times until a survivor names another leader and until a write succeeds. */
async function failover(c: ConsensusCluster): Promise<{ leaderMs: number; writeMs: number }> {
  await until('the cluster to agree on a leader', () => agreed(c));
  const dead = leaderIndex(c);
  const deadId = c.nodeId(dead);
  const survivors = c.members().filter((m, i): m is Member => m !== undefined && i !== dead);
  const started = performance.now();
  const killed = c.kill(dead);
  let leaderMs: number | undefined;
  let writeMs: number | undefined;
  // A write that reached the dead leader waits out its request timeout: keep starting new ones.
  const writes = (async () => {
    for (let turn = 0; writeMs === undefined; turn++) {
      if (performance.now() - started > DEADLINE_MS) throw new Error(`no write succeeded within ${DEADLINE_MS} ms of killing the leader`);
      put(survivors[turn % survivors.length]!).then(
        () => (writeMs ??= performance.now() - started),
        () => undefined,
      );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await until('a survivor to name a new leader', () => {
    if (survivors.some((m) => m.leader() !== undefined && m.leader()!.id !== deadId)) leaderMs ??= performance.now() - started;
    return leaderMs !== undefined;
  }, 1);
  await writes;
  await killed;
  await c.restart(dead);
  return { leaderMs: leaderMs!, writeMs: writeMs! };
}

async function measure(c: ConsensusCluster, trivial: (follower: Member) => Promise<unknown>, options: Required<ConsensusBenchOptions>): Promise<Figures> {
  await until('the cluster to agree on a leader', () => agreed(c));
  const leader = c.members()[leaderIndex(c)]!;
  const follower = c.members().find((m) => m !== leader)!;
  await oneAtATime(leader, WARM_UP);
  await inFlight(leader, WARM_UP * 2, options.inFlight);
  const proxyMs = await proxyRoundTrip(() => trivial(follower));
  const sequential = await oneAtATime(leader, options.sequential);
  const viaFollower = await oneAtATime(follower, options.viaFollower);
  const pipelined = await inFlight(leader, options.pipelined, options.inFlight);
  const kills: { leaderMs: number; writeMs: number }[] = [];
  for (let i = 0; i < options.failovers; i++) kills.push(await failover(c));
  return {
    sequential,
    viaFollower,
    pipelined,
    proxyMs,
    failoverLeaderMs: quantile(kills.map((k) => k.leaderMs), 0.5),
    failoverWriteMs: quantile(kills.map((k) => k.writeMs), 0.5),
  };
}

export async function run(options: ConsensusBenchOptions = {}): Promise<BenchmarkRow[]> {
  if (!etcdBinary()) throw new BenchmarkUnavailable("no etcd binary on PATH (install Debian's etcd-server package)");
  const settings: Required<ConsensusBenchOptions> = { sequential: 2000, viaFollower: 500, pipelined: 10_000, inFlight: 64, failovers: 3, ...options };
  const teardowns = new Teardowns();
  const t = teardowns as unknown as SuiteTest;
  try {
    // One backend at a time, so neither shares the two cores with the other's idle cluster.
    const raftCluster = await processClusterFactory({ plugin: 'raft' }).start({ size: SIZE, t });
    const raft = await measure(raftCluster, (follower) => follower.transferLeadership(), settings);
    await teardowns.run();

    const etcd = await startEtcd(teardowns, { size: 3 });
    const etcdCluster = await processClusterFactory({
      plugin: 'etcd',
      env: () => ({ OLLAMA_CONSENSUS_ETCD_ENDPOINTS: etcd.endpoints.join(',') }),
      consensus: () => ({ etcd: { endpoints: etcd.endpoints, prefix: '/bench' } }),
    }).start({ size: SIZE, t });
    const etcdFigures = await measure(etcdCluster, (follower) => follower.propose({ type: '', payload: null }), settings);

    const row = (name: string, pick: (f: Figures) => number, unit: string, better: 'higher' | 'lower'): BenchmarkRow => {
      const value = pick(raft);
      const baseline = pick(etcdFigures);
      return { name: `raft ${name}`, value, unit, baseline, baselineName: 'etcd', ratio: value / baseline, better };
    };
    const inFlightLabel = `${settings.inFlight} in flight`;
    return [
      row('commits/s, sequential to the leader', (f) => f.sequential.perSecond, 'commits/s', 'higher'),
      row('p50 commit latency, sequential to the leader (ms)', (f) => f.sequential.p50, 'ms', 'lower'),
      row('p99 commit latency, sequential to the leader (ms)', (f) => f.sequential.p99, 'ms', 'lower'),
      row('commits/s, sequential via a follower', (f) => f.viaFollower.perSecond, 'commits/s', 'higher'),
      row('p50 commit latency, sequential via a follower (ms)', (f) => f.viaFollower.p50, 'ms', 'lower'),
      row(`commits/s, ${inFlightLabel}`, (f) => f.pipelined.perSecond, 'commits/s', 'higher'),
      row(`p50 commit latency, ${inFlightLabel} (ms)`, (f) => f.pipelined.p50, 'ms', 'lower'),
      row(`p99 commit latency, ${inFlightLabel} (ms)`, (f) => f.pipelined.p99, 'ms', 'lower'),
      row('stdin/stdout proxy round trip, trivial call, p50 (ms)', (f) => f.proxyMs, 'ms', 'lower'),
      row(`failover: leader killed until a survivor names a new one, median of ${settings.failovers} (ms)`, (f) => f.failoverLeaderMs, 'ms', 'lower'),
      row(`failover: leader killed until a write succeeds, median of ${settings.failovers} (ms)`, (f) => f.failoverWriteMs, 'ms', 'lower'),
    ];
  } finally {
    await teardowns.run();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
