// The consensus conformance suite: what every Consensus backend must do as a cluster, checked
// against a replicated KV store. A backend's test file calls `consensusSuite(t, name, factory)`.

import { isDeepStrictEqual } from 'node:util';
import type { Command, Consensus, ConsensusEvent, Member } from '../../core/contracts/consensus.js';
import { kvCommand, type KvState } from './kv-state-machine.js';
import { check, kvHistoryFromEvents, kvModel, type KvEvent } from './linearizability.js';
import { prng } from '../fixtures/prng.js';

type Message = [] | [message: string] | [message: string, extra: { [key: string]: unknown }];

/** The part of a tap test the suite uses; tap's `t` satisfies it. */
export interface SuiteTest {
  /** `extra.skip` states why a check does not run. */
  test(name: string, extra: { skip?: string }, fn: (t: SuiteTest) => Promise<void>): unknown;
  pass(message: string): unknown;
  ok(value: unknown, ...message: Message): unknown;
  equal(found: unknown, wanted: unknown, ...message: Message): unknown;
  same(found: unknown, wanted: unknown, ...message: Message): unknown;
  comment(...message: unknown[]): unknown;
  teardown(fn: () => unknown): unknown;
}

export interface ConsensusCluster<S = KvState> {
  /** Index = member number; a killed member's slot is undefined until it restarts. */
  members(): (Consensus<S> | undefined)[];
  /** The node id member i goes by in `leader()` and `members()`. */
  nodeId(i: number): string;
  /** A crash: no clean stop, no leadership transfer. */
  kill(i: number): Promise<void>;
  /** Starts member i again on what it had persisted. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
  /** Only members in the same group can reach each other. */
  partition?(groups: number[][]): Promise<void>;
  heal?(): Promise<void>;
  /** Starts a new member outside the cluster, at the next index, for addMember to bring in. */
  spawn?(): Promise<{ index: number; member: Member }>;
}

export interface ConsensusClusterFactory {
  /** A started cluster of `size` voters wired to `kvStateMachine`; the suite stops it. */
  start(opts: { size: number; t: SuiteTest }): Promise<ConsensusCluster<KvState>>;
}

export interface ConsensusSuiteOptions {
  /** How soon a new leader must be agreed after the leader dies. Default 5000 ms. */
  leaderDeadlineMs?: number;
  /** How long any other awaited condition may take (convergence, a write). Default 5000 ms. */
  deadlineMs?: number;
  /** The factory's clusters support `spawn`, addMember and removeMember. */
  membership?: boolean;
  /** How long the linearizability workload runs. Default 2000 ms. */
  workloadMs?: number;
}

type Settings = Required<ConsensusSuiteOptions>;

export function consensusSuite(
  t: SuiteTest,
  name: string,
  factory: ConsensusClusterFactory,
  opts: ConsensusSuiteOptions = {},
): void {
  const settings: Settings = {
    leaderDeadlineMs: opts.leaderDeadlineMs ?? 5000,
    deadlineMs: opts.deadlineMs ?? 5000,
    membership: opts.membership ?? false,
    workloadMs: opts.workloadMs ?? 2000,
  };
  const withCluster = (title: string, size: number, body: (t: SuiteTest, c: ConsensusCluster) => Promise<void>) =>
    t.test(`${name}: ${title}`, {}, async (t) => {
      const cluster = await factory.start({ size, t });
      t.teardown(() => cluster.stop());
      await body(t, cluster);
    });

  withCluster('exactly one leader, agreed by every member once stable', 3, async (t, c) => {
    const leader = await stableLeader(c, settings.leaderDeadlineMs);
    const ids = c.members().map((_, i) => c.nodeId(i));
    t.equal(ids.filter((id) => id === leader.id).length, 1, `the leader ${leader.id} is one of the members`);
    t.ok(leader.term > 0, 'the leader has a term');
  });

  withCluster('every member converges to the same state and index after writes', 3, async (t, c) => {
    await stableLeader(c, settings.leaderDeadlineMs);
    const written: Record<string, string> = {};
    let last = 0;
    for (let i = 0; i < 12; i++) {
      written[`k${i % 4}`] = `v${i}`;
      last = (await proposeSomewhere(c, kvCommand.put(`k${i % 4}`, `v${i}`), settings.deadlineMs, i)).index;
    }
    await converged(c, last, settings.deadlineMs);
    for (const [i, m] of live(c)) {
      t.same(m.state().state, written, `member ${i} holds every write`);
      t.same(await m.read(AbortSignal.timeout(settings.deadlineMs)), written, `member ${i} reads every write`);
    }
  });

  withCluster('a new leader is agreed after the leader is killed', 3, async (t, c) => {
    const old = await stableLeader(c, settings.leaderDeadlineMs);
    const oldIndex = indexOf(c, old.id);
    await c.kill(oldIndex);
    const started = Date.now();
    const next = await stableLeader(c, settings.leaderDeadlineMs, (l) => l.id !== old.id);
    t.comment(`${next.id} took over from ${old.id} in ${Date.now() - started} ms`);
    t.ok(next.term > old.term, 'in a later term');
    const { index } = await proposeSomewhere(c, kvCommand.put('after', 'election'), settings.deadlineMs);
    t.ok(index > 0, 'and accepts writes');
  });

  for (const role of ['follower', 'leader'] as const) {
    withCluster(`no acknowledged write is lost when the ${role} crashes and restarts`, 3, async (t, c) => {
      const leader = await stableLeader(c, settings.leaderDeadlineMs);
      const victim = role === 'leader' ? indexOf(c, leader.id) : live(c).find(([i]) => c.nodeId(i) !== leader.id)![0];
      const acked: Record<string, string> = {};
      const write = async (key: string, value: string) => {
        await proposeSomewhere(c, kvCommand.put(key, value), settings.deadlineMs);
        acked[key] = value;
      };
      for (let i = 0; i < 5; i++) await write(`before${i}`, `v${i}`);
      await c.kill(victim);
      for (let i = 0; i < 5; i++) await write(`during${i}`, `v${i}`);
      await c.restart(victim);
      await stableLeader(c, settings.leaderDeadlineMs);
      await write('after', 'restart');
      const last = Math.max(...live(c).map(([, m]) => m.state().index));
      await converged(c, last, settings.deadlineMs);
      const restarted = c.members()[victim];
      t.ok(restarted, `member ${victim} is back`);
      for (const [i, m] of live(c)) {
        t.same(await m.read(AbortSignal.timeout(settings.deadlineMs)), acked, `member ${i} has every acknowledged write`);
      }
    });
  }

  withCluster('propose on a follower is committed and applied there before it resolves', 3, async (t, c) => {
    const leader = await stableLeader(c, settings.leaderDeadlineMs);
    const [i, follower] = live(c).find(([i]) => c.nodeId(i) !== leader.id)!;
    const { index, result } = await follower.propose(kvCommand.cas('k', null, 'from-follower'), AbortSignal.timeout(settings.deadlineMs));
    t.equal(result, true, 'with the state machine result');
    t.ok(follower.state().index >= index, `member ${i} applied index ${index} before propose resolved`);
    t.equal(follower.state().state.k, 'from-follower');
    const atLeader = await c.members()[indexOf(c, leader.id)]!.read(AbortSignal.timeout(settings.deadlineMs));
    t.equal(atLeader.k, 'from-follower', 'the leader reads it');
  });

  withCluster('reads are linearizable under a concurrent workload while members crash', 3, async (t, c) => {
    await stableLeader(c, settings.leaderDeadlineMs);
    const events = await workload(c, settings, (line) => t.comment(line));
    const finished = events.filter((e) => e.return !== Infinity);
    const reads = finished.filter((e) => e.kind === 'get').length;
    t.ok(reads >= 20, `enough reads completed (${reads})`);
    t.ok(finished.length - reads >= 20, `enough writes completed (${finished.length - reads})`);
    const started = performance.now();
    const verdict = check(kvModel, kvHistoryFromEvents(events), { timeoutMs: 10_000 });
    const unknown = events.length - finished.length;
    t.comment(`checked ${events.length} operations (${unknown} with unknown outcome) in ${(performance.now() - started).toFixed(1)} ms`);
    t.equal(verdict.result, 'ok', 'the history is linearizable', verdict.info ? { info: verdict.info } : {});
  });

  withCluster('watch sees every applied index once, in order', 3, async (t, c) => {
    await stableLeader(c, settings.leaderDeadlineMs);
    const seen = new Map<number, { from: number; indexes: number[] }>();
    const stops: (() => void)[] = [];
    for (const [i, m] of live(c)) {
      const record = { from: m.state().index, indexes: [] as number[] };
      seen.set(i, record);
      stops.push(m.watch((e: ConsensusEvent) => e.type === 'applied' && record.indexes.push(e.index)));
    }
    t.teardown(() => stops.forEach((stop) => stop()));
    const proposed: number[] = [];
    for (let n = 0; n < 10; n++) proposed.push((await proposeSomewhere(c, kvCommand.put('w', `v${n}`), settings.deadlineMs, n)).index);
    await converged(c, proposed[proposed.length - 1]!, settings.deadlineMs);
    // Indexes need not be contiguous (etcd's revisions count every write to the etcd), but each is
    // seen once, in order, every proposal among them, and the last is the member's applied index.
    for (const [i, { from, indexes }] of seen) {
      const end = c.members()[i]!.state().index;
      const ordered = indexes.every((index, k) => index > (k === 0 ? from : indexes[k - 1]!));
      const missing = proposed.filter((index) => !indexes.includes(index));
      t.ok(ordered && missing.length === 0 && indexes[indexes.length - 1] === end, `member ${i} saw indexes ${from + 1}..${end} once each, in order`, { indexes, missing, end });
    }
    stops.forEach((stop) => stop());
    const counts = [...seen.values()].map((r) => r.indexes.length);
    const last = (await proposeSomewhere(c, kvCommand.put('w', 'unwatched'), settings.deadlineMs)).index;
    await converged(c, last, settings.deadlineMs);
    t.same([...seen.values()].map((r) => r.indexes.length), counts, 'a stopped watch hears nothing more');
  });

  const membership = `${name}: a member joins as a non-voter, becomes a voter, and is removed`;
  if (!settings.membership) {
    t.test(membership, { skip: 'the backend does not declare membership support' }, async () => {});
    return;
  }
  withCluster('a member joins as a non-voter, becomes a voter, and is removed', 3, async (t, c) => {
    if (!c.spawn) throw new Error('membership: true, but the cluster has no spawn()');
    const leader = await stableLeader(c, settings.leaderDeadlineMs);
    const atLeader = () => c.members()[indexOf(c, leader.id)]!;
    await proposeSomewhere(c, kvCommand.put('before', 'join'), settings.deadlineMs);
    const { index, member } = await c.spawn();
    const roleEverywhere = async (voter: boolean | undefined, what: string) =>
      waitFor(settings.deadlineMs, what, () =>
        live(c).every(([, m]) => m.members().find((x) => x.id === member.id)?.voter === voter),
      );
    await atLeader().addMember({ ...member, voter: false }, AbortSignal.timeout(settings.deadlineMs));
    await roleEverywhere(false, `${member.id} listed as a non-voter by every member`);
    t.pass(`${member.id} joined as a non-voter`);
    await proposeSomewhere(c, kvCommand.put('after', 'join'), settings.deadlineMs);
    const joined = c.members()[index]!;
    await waitFor(settings.deadlineMs, `${member.id} catches up`, () => joined.state().state.after === 'join');
    t.equal(joined.state().state.before, 'join', 'the new member has what was written before it joined');
    t.equal(joined.clusterId(), atLeader().clusterId(), 'and the cluster id');
    await atLeader().addMember({ ...member, voter: true }, AbortSignal.timeout(settings.deadlineMs));
    await roleEverywhere(true, `${member.id} listed as a voter by every member`);
    t.pass(`${member.id} became a voter`);
    await atLeader().removeMember(member.id, AbortSignal.timeout(settings.deadlineMs));
    await waitFor(settings.deadlineMs, `${member.id} gone from every other member's list`, () =>
      live(c).every(([i, m]) => i === index || !m.members().some((x) => x.id === member.id)),
    );
    t.pass(`${member.id} was removed`);
    const { index: last } = await proposeSomewhere(c, kvCommand.put('after', 'remove'), settings.deadlineMs);
    t.ok(last > 0, 'the cluster still accepts writes');
  });
}

/** Waits for a condition, polling; fails naming what it waited for. */
export async function waitFor(deadlineMs: number, what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function live(c: ConsensusCluster): [number, Consensus<KvState>][] {
  return c.members().flatMap((m, i) => (m ? [[i, m] as [number, Consensus<KvState>]] : []));
}

function indexOf(c: ConsensusCluster, id: string): number {
  const i = c.members().findIndex((_, i) => c.nodeId(i) === id);
  if (i === -1) throw new Error(`no member has node id ${id}`);
  return i;
}

/** Every live member names the same leader and term, and the leader is live and agrees. */
async function stableLeader(
  c: ConsensusCluster,
  deadlineMs: number,
  accept: (l: { id: string; term: number }) => boolean = () => true,
): Promise<{ id: string; term: number }> {
  let agreed: { id: string; term: number } | undefined;
  await waitFor(deadlineMs, 'every live member to agree on one leader', () => {
    const views = live(c).map(([, m]) => m.leader());
    const first = views[0];
    agreed = undefined;
    if (!first || !views.every((v) => v && v.id === first.id && v.term === first.term)) return false;
    if (!c.members().some((m, i) => m && c.nodeId(i) === first.id) || !accept(first)) return false;
    agreed = first;
    return true;
  });
  return agreed!;
}

/** Proposes through live members in turn from `start`, retrying until the deadline. */
async function proposeSomewhere(
  c: ConsensusCluster,
  command: Command,
  deadlineMs: number,
  start = 0,
): Promise<{ index: number; result: unknown }> {
  let outcome: { index: number; result: unknown } | undefined;
  let lastError: unknown;
  let attempt = start;
  await waitFor(deadlineMs, `a member to accept ${command.type}`, async () => {
    const members = live(c);
    const [, m] = members[attempt++ % members.length]!;
    try {
      outcome = await m.propose(command, AbortSignal.timeout(deadlineMs));
      return true;
    } catch (err) {
      lastError = err;
      return false;
    }
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last error: ${(lastError as Error | undefined)?.message}`);
  });
  return outcome!;
}

async function converged(c: ConsensusCluster, index: number, deadlineMs: number): Promise<void> {
  await waitFor(deadlineMs, `every live member to apply index ${index} and agree on the state`, () => {
    const states = live(c).map(([, m]) => m.state());
    return states.every((s) => s.index >= index && s.index === states[0]!.index && isDeepStrictEqual(s.state, states[0]!.state));
  });
}

/**
 * Clients read, put and cas a few keys through random members while a nemesis crashes and
 * restarts one member at a time (and isolates one when the cluster can partition). Each
 * nemesis step waits for the clients to finish more operations, so faults meet traffic.
 */
async function workload(c: ConsensusCluster, s: Settings, log: (line: string) => void): Promise<KvEvent[]> {
  const seed = Number(process.env.CONSENSUS_SEED ?? Date.now() % 1_000_000);
  log(`workload seed ${seed} (rerun with CONSENSUS_SEED=${seed})`);
  const random = prng(seed);
  const keys = ['a', 'b', 'c'];
  const events: KvEvent[] = [];
  const opTimeoutMs = 500;
  const end = Date.now() + s.workloadMs;
  let done = 0;
  const client = async (clientId: number) => {
    let n = 0;
    const lastSeen = new Map<string, string>();
    while (Date.now() < end) {
      // Only members that know a leader: failing fast on the others would flood the history
      // with operations of unknown outcome, which the checker must try everywhere.
      const led = () => live(c).filter(([, m]) => m.leader() !== undefined);
      await waitFor(s.deadlineMs, 'a live member that knows a leader', () => led().length > 0 || Date.now() >= end);
      const members = led();
      if (members.length === 0) break;
      const [, m] = members[Math.floor(random() * members.length)]!;
      const key = keys[Math.floor(random() * keys.length)]!;
      const roll = random();
      const signal = AbortSignal.timeout(opTimeoutMs);
      const call = performance.now();
      if (roll < 0.5) {
        try {
          const state = await m.read(signal);
          events.push({ clientId, kind: 'get', key, output: state[key], call, return: performance.now() });
          if (state[key] !== undefined) lastSeen.set(key, state[key]);
        } catch {
          // A failed read changed nothing: it leaves the history.
        }
      } else {
        const value = `c${clientId}-${n++}`;
        const from = lastSeen.get(key);
        const event: KvEvent =
          roll < 0.8 || from === undefined
            ? { clientId, kind: 'put', key, value, call, return: Infinity }
            : { clientId, kind: 'cas', key, from, to: value, call, return: Infinity };
        try {
          const command = event.kind === 'put' ? kvCommand.put(key, value) : kvCommand.cas(key, from!, value);
          const { result } = await m.propose(command, signal);
          if (event.kind === 'cas') event.output = result as boolean;
          event.return = performance.now();
        } catch {
          // Its outcome is unknown: it may yet be applied, or never; return stays Infinity.
        }
        events.push(event);
      }
      done++;
    }
  };
  const nemesis = async () => {
    const size = c.members().length;
    let step = 0;
    while (Date.now() < end - 300) {
      const mark = done + 15;
      await waitFor(s.deadlineMs, 'clients to make progress between faults', () => done >= mark || Date.now() >= end - 300);
      if (Date.now() >= end - 300) break;
      const victim = Math.floor(random() * size);
      if (step++ % 2 === 1 && c.partition && c.heal) {
        const rest = Array.from({ length: size }, (_, i) => i).filter((i) => i !== victim);
        log(`nemesis: isolating member ${victim}`);
        await c.partition([[victim], rest]);
        const healMark = done + 15;
        await waitFor(s.deadlineMs, 'clients to make progress during the partition', () => done >= healMark || Date.now() >= end);
        await c.heal();
      } else {
        log(`nemesis: killing member ${victim}`);
        await c.kill(victim);
        const restartMark = done + 15;
        await waitFor(s.deadlineMs, 'clients to make progress with a member down', () => done >= restartMark || Date.now() >= end);
        await c.restart(victim);
      }
    }
  };
  await Promise.all([nemesis(), ...Array.from({ length: 4 }, (_, i) => client(i))]);
  return events;
}

