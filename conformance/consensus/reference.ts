// An in-process reference for the Consensus contract, there only to prove the conformance suite
// right: N members share one committed log (their "disks"), one leader appends when it can reach
// a majority of voters, and followers apply with a lag. Kill, restart and partition are controls.

import { randomUUID } from 'node:crypto';
import {
  NotLeaderError,
  type Command,
  type Consensus,
  type ConsensusEvent,
  type LeaderInfo,
  type Member,
  type StateMachine,
} from '../../core/contracts/consensus.js';
import type { ConsensusCluster, ConsensusClusterFactory } from './suite.js';
import { kvStateMachine, type KvState } from './kv-state-machine.js';

export interface ReferenceOptions {
  /** Followers apply committed entries this many ms late, so stale local state is observable. */
  followerLagMs?: number;
  /** How long the cluster goes without a leader after losing one. */
  electionDelayMs?: number;
  /** The deliberate bug the suite must catch: `read` serves local state without a read index. */
  staleReads?: boolean;
}

type Entry = { kind: 'command'; command: Command } | { kind: 'members'; members: Member[] };

class MemberKilled extends Error {
  readonly code = 'OD_ERR_MEMBER_STOPPED';
  constructor(id: string) {
    super(`consensus member ${id} is stopped`);
  }
}

/** What every member shares: the committed log, the leader, who is up and who can reach whom. */
class World<S> {
  readonly clusterId = randomUUID();
  readonly log: Entry[] = [];
  readonly slots: (ReferenceMember<S> | undefined)[] = [];
  /** Each live member's last applied state and index, what a crash leaves on its disk. */
  readonly disks = new Map<number, { snapshot: Uint8Array; index: number }>();
  config: Member[];
  readonly bootstrap: Member[];
  leader: number | undefined;
  term = 0;
  groups: number[][] | undefined;
  private election: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    size: number,
    readonly sm: StateMachine<S>,
    readonly options: Required<ReferenceOptions>,
  ) {
    this.bootstrap = Array.from({ length: size }, (_, i) => ({ id: idOf(i), address: `ref://${idOf(i)}`, voter: true }));
    this.config = this.bootstrap;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  alive(slot: number): boolean {
    return this.slots[slot]?.running === true;
  }

  reachable(a: number, b: number): boolean {
    if (a === b || !this.groups) return true;
    return this.groups.some((g) => g.includes(a) && g.includes(b));
  }

  voter(slot: number): boolean {
    return this.config.some((m) => m.id === idOf(slot) && m.voter);
  }

  hasQuorum(slot: number): boolean {
    const voters = this.config.filter((m) => m.voter).map((m) => slotOf(m.id));
    const reached = voters.filter((v) => this.alive(v) && this.reachable(slot, v)).length;
    return this.alive(slot) && this.voter(slot) && reached * 2 > voters.length;
  }

  /** Called after every change of who is up or connected: keeps or replaces the leader. */
  reconsider(): void {
    if (this.leader !== undefined && !this.hasQuorum(this.leader)) {
      this.leader = undefined;
      this.changed();
    }
    if (this.leader === undefined && !this.election) {
      this.election = setTimeout(() => {
        this.election = undefined;
        const candidate = this.slots.findIndex((_, i) => this.hasQuorum(i));
        if (candidate === -1) return;
        this.term++;
        this.leader = candidate;
        this.changed();
      }, this.options.electionDelayMs);
    }
    this.changed();
  }

  append(entry: Entry): number {
    this.log.push(entry);
    if (entry.kind === 'members') {
      this.config = entry.members;
      this.reconsider();
    }
    this.changed();
    return this.log.length;
  }

  leaderInfo(): LeaderInfo | undefined {
    return this.leader === undefined ? undefined : { id: idOf(this.leader), term: this.term };
  }

  stop(): void {
    clearTimeout(this.election);
    this.election = undefined;
  }
}

const idOf = (slot: number) => `m${slot}`;
const slotOf = (id: string) => Number(id.slice(1));

class ReferenceMember<S> implements Consensus<S> {
  readonly name = 'consensus-reference';
  running = false;
  private current: S;
  private index = 0;
  private readonly results = new Map<number, unknown>();
  private view: Member[];
  private seenLeader: LeaderInfo | undefined;
  private pump: NodeJS.Timeout | undefined;
  private readonly watchers = new Set<(event: ConsensusEvent, state: S) => void>();
  private readonly waiters = new Set<() => void>();
  private unsubscribe: (() => void) | undefined;
  private joined: boolean;

  constructor(
    private readonly world: World<S>,
    readonly slot: number,
  ) {
    const disk = world.disks.get(slot);
    this.current = disk ? world.sm.restore(disk.snapshot) : world.sm.initial();
    this.index = disk?.index ?? 0;
    this.view = this.configAt(this.index);
    this.joined = this.view.some((m) => m.id === idOf(slot));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.world.onChange(() => this.tick());
    this.world.reconsider();
  }

  /** A crash: nothing more is applied or answered; the applied state stays on "disk". */
  kill(): void {
    if (!this.running) return;
    this.running = false;
    this.world.disks.set(this.slot, { snapshot: this.world.sm.snapshot(this.current), index: this.index });
    clearTimeout(this.pump);
    this.pump = undefined;
    this.unsubscribe?.();
    for (const wake of [...this.waiters]) wake();
    this.world.reconsider();
  }

  stop(): void {
    this.kill();
  }

  clusterId(): string | undefined {
    return this.joined ? this.world.clusterId : undefined;
  }

  /** Members share one in-process log: there is nothing to dial. */
  address(): undefined {
    return undefined;
  }

  state(): { state: S; index: number } {
    return { state: this.current, index: this.index };
  }

  leader(): LeaderInfo | undefined {
    const leader = this.world.leader;
    if (!this.running || leader === undefined || !this.world.reachable(this.slot, leader)) return undefined;
    return this.world.leaderInfo();
  }

  members(): Member[] {
    return this.view.map((m) => ({ ...m }));
  }

  async propose(command: Command, signal?: AbortSignal): Promise<{ index: number; result: unknown }> {
    const index = this.appendViaLeader({ kind: 'command', command });
    await this.until(() => this.index >= index, signal);
    return { index, result: this.results.get(index) };
  }

  async read(signal?: AbortSignal): Promise<S> {
    this.assertRunning();
    if (this.world.options.staleReads) return this.current;
    this.reachableLeader();
    const readIndex = this.world.log.length;
    await this.until(() => this.index >= readIndex, signal);
    return this.current;
  }

  async addMember(member: Member, signal?: AbortSignal): Promise<void> {
    const others = this.world.config.filter((m) => m.id !== member.id);
    const index = this.appendViaLeader({ kind: 'members', members: [...others, { ...member }] });
    await this.until(() => this.index >= index, signal);
  }

  async removeMember(id: string, signal?: AbortSignal): Promise<void> {
    if (!this.world.config.some((m) => m.id === id)) throw new Error(`no consensus member ${id} to remove`);
    const index = this.appendViaLeader({ kind: 'members', members: this.world.config.filter((m) => m.id !== id) });
    await this.until(() => this.index >= index, signal);
  }

  async transferLeadership(signal?: AbortSignal): Promise<void> {
    this.assertRunning();
    if (this.world.leader !== this.slot) throw new NotLeaderError(this.leader());
    const to = this.world.slots.findIndex((m, i) => i !== this.slot && m && this.world.hasQuorum(i) && m.index === this.world.log.length);
    if (to === -1) throw new Error(`consensus member ${this.slot}: no up-to-date voter to hand leadership to`);
    this.world.term++;
    this.world.leader = to;
    this.world.changed();
    await this.until(() => this.world.leader === to, signal);
  }

  watch(listener: (event: ConsensusEvent, state: S) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  private assertRunning(): void {
    if (!this.running) throw new MemberKilled(idOf(this.slot));
  }

  private reachableLeader(): number {
    this.assertRunning();
    const leader = this.world.leader;
    if (leader === undefined || !this.world.reachable(this.slot, leader) || !this.world.hasQuorum(leader)) {
      throw new NotLeaderError(this.leader());
    }
    return leader;
  }

  /** A follower forwards to the leader, which appends once it reaches a majority. */
  private appendViaLeader(entry: Entry): number {
    this.reachableLeader();
    return this.world.append(entry);
  }

  private inConfig(): boolean {
    return this.world.config.some((m) => m.id === idOf(this.slot));
  }

  private configAt(index: number): Member[] {
    for (let i = index - 1; i >= 0; i--) {
      const entry = this.world.log[i]!;
      if (entry.kind === 'members') return entry.members;
    }
    return this.world.bootstrap;
  }

  private tick(): void {
    for (const wake of [...this.waiters]) wake();
    if (!this.running) return;
    this.noticeLeader();
    const leader = this.world.leader;
    const behind = this.index < this.world.log.length;
    // A member removed by an entry still applies up to that entry, then hears nothing more.
    const member = this.inConfig() || this.view.some((m) => m.id === idOf(this.slot));
    const fed = leader !== undefined && this.world.reachable(this.slot, leader) && member;
    if (!this.running || this.pump || !behind || !(fed || leader === this.slot)) return;
    const lag = leader === this.slot ? 0 : this.world.options.followerLagMs;
    this.pump = setTimeout(() => {
      this.pump = undefined;
      this.applyUpTo(this.world.log.length);
      this.world.changed();
    }, lag);
  }

  private noticeLeader(): void {
    const now = this.leader();
    if (now?.id === this.seenLeader?.id && now?.term === this.seenLeader?.term) return;
    this.seenLeader = now;
    this.emit({ type: 'leader', leader: now });
  }

  private applyUpTo(end: number): void {
    while (this.running && this.index < end) {
      const entry = this.world.log[this.index]!;
      const index = ++this.index;
      if (entry.kind === 'command') {
        const next = this.world.sm.apply(this.current, entry.command, index);
        this.current = next.state;
        this.results.set(index, next.result);
      } else {
        this.view = entry.members;
        this.joined ||= entry.members.some((m) => m.id === idOf(this.slot));
        this.emit({ type: 'members', members: this.members() });
      }
      this.emit({ type: 'applied', index });
      if (!this.view.some((m) => m.id === idOf(this.slot)) && this.joined) break;
    }
  }

  private emit(event: ConsensusEvent): void {
    for (const listener of [...this.watchers]) listener(event, this.current);
  }

  private until(ready: () => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (signal?.aborted) return done(signal.reason ?? new Error('aborted'));
        if (!this.running) return done(new MemberKilled(idOf(this.slot)));
        if (ready()) done();
      };
      const done = (err?: unknown) => {
        this.waiters.delete(check);
        signal?.removeEventListener('abort', check);
        if (err) reject(err);
        else resolve();
      };
      this.waiters.add(check);
      signal?.addEventListener('abort', check);
      check();
    });
  }
}

/** A cluster of reference members; `members()` has a hole where a member is down. */
export class ReferenceCluster<S> implements ConsensusCluster<S> {
  private readonly world: World<S>;

  constructor(size: number, sm: StateMachine<S>, options: ReferenceOptions = {}) {
    this.world = new World(size, sm, {
      followerLagMs: options.followerLagMs ?? 5,
      electionDelayMs: options.electionDelayMs ?? 50,
      staleReads: options.staleReads ?? false,
    });
    for (let i = 0; i < size; i++) this.world.slots.push(new ReferenceMember(this.world, i));
  }

  async start(): Promise<void> {
    for (const m of this.world.slots) m?.start();
  }

  members(): (Consensus<S> | undefined)[] {
    return this.world.slots.map((m) => (m?.running ? m : undefined));
  }

  nodeId(i: number): string {
    return idOf(i);
  }

  async kill(i: number): Promise<void> {
    this.slot(i).kill();
  }

  async restart(i: number): Promise<void> {
    if (this.world.alive(i)) throw new Error(`reference member ${i} is running; kill it first`);
    this.slot(i);
    const member = new ReferenceMember(this.world, i);
    this.world.slots[i] = member;
    member.start();
  }

  async spawn(): Promise<{ index: number; member: Member }> {
    const index = this.world.slots.length;
    const member = new ReferenceMember(this.world, index);
    this.world.slots.push(member);
    member.start();
    return { index, member: { id: idOf(index), address: `ref://${idOf(index)}`, voter: false } };
  }

  async partition(groups: number[][]): Promise<void> {
    this.world.groups = groups.map((g) => [...g]);
    this.world.reconsider();
  }

  async heal(): Promise<void> {
    this.world.groups = undefined;
    this.world.reconsider();
  }

  async stop(): Promise<void> {
    for (const m of this.world.slots) m?.stop();
    this.world.stop();
  }

  private slot(i: number): ReferenceMember<S> {
    const member = this.world.slots[i];
    if (!member) throw new RangeError(`reference cluster has no member ${i}`);
    return member;
  }
}

export function referenceFactory(options: ReferenceOptions = {}): ConsensusClusterFactory {
  return {
    async start({ size }) {
      const cluster = new ReferenceCluster<KvState>(size, kvStateMachine, options);
      await cluster.start();
      return cluster;
    },
  };
}
