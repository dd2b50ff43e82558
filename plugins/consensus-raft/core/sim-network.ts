// Test support: an in-process cluster of RaftNodes over a simulated network that drops,
// duplicates, delays and reorders messages, partitions, and crashes members (each keeps only
// what its driver persisted). It checks Raft's safety properties after every step and records a
// client history of a key-value workload for a linearizability checker.

import { RaftNode, type RaftConfig } from './node.js';
import type { ConfChange, ConfMember, ConfState, Entry, HardState, Message, NodeId, Ready, Snapshot } from './types.js';
import { prng } from '../../../conformance/fixtures/prng.js';



/** One client operation on the key-value store; `return` is Infinity when its outcome is unknown. */
export interface HistoryEvent {
  clientId: number;
  kind: 'put' | 'get';
  key: string;
  value?: string;
  output?: string;
  call: number;
  return: number;
}

export class InvariantViolation extends Error {}

export interface SimOptions {
  seed: number;
  voters: NodeId[];
  nonVoters?: NodeId[];
  electionTicks?: number;
  heartbeatTicks?: number;
  maxAppendEntries?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Probability that a message is lost, duplicated; the most ticks one waits in the network. */
  drop?: number;
  duplicate?: number;
  maxDelay?: number;
  /** Probability that a member's driver handles its Ready at once rather than a later tick. */
  readyRate?: number;
  /** Compact a member's log once it applied this many entries past its snapshot (0: never). */
  compactEvery?: number;
  /** Ticks a client waits for an answer before it gives up (outcome unknown). */
  clientTimeout?: number;
}

/** What a driver keeps on disk: a crash loses everything else. */
interface Disk {
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
}

interface KvState {
  kv: Record<string, string>;
  /** Per client, the last sequence number applied: a duplicated proposal applies once. */
  sessions: Record<string, number>;
}

interface PendingOp {
  event: HistoryEvent;
  node: NodeId;
  seq: number;
  readIndex?: number;
  deadline: number;
}

interface Member {
  id: NodeId;
  node: RaftNode | undefined;
  disk: Disk;
  bootstrap: ConfState;
  state: KvState;
  applied: number;
}

interface Command {
  c: number;
  s: number;
  k: string;
  v: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimCluster {
  readonly random: () => number;
  now = 0;
  readonly members = new Map<NodeId, Member>();
  /** Every operation that reached a member, in invocation order; `return` is set when it ends. */
  readonly history: HistoryEvent[] = [];
  /** Writes whose proposer applied them: they must survive everything. */
  readonly acknowledged: { index: number; clientId: number; seq: number }[] = [];
  drop: number;
  duplicate: number;
  maxDelay: number;
  private readonly options: Required<SimOptions>;
  private network: { at: number; message: Message }[] = [];
  private cut = new Set<string>();
  /** Per index, the entry the first member to apply it applied. */
  private appliedAt = new Map<number, string>();
  /** Per (index, term), the entry and the term before it, as first persisted anywhere. */
  private persistedAt = new Map<string, string>();
  private leaderOf = new Map<number, NodeId>();
  /** Per index, the state machine a snapshot there holds, as first taken anywhere. */
  private snapshotAt = new Map<number, string>();
  private clients = new Map<number, PendingOp | undefined>();
  private seqs = new Map<number, number>();

  constructor(options: SimOptions) {
    this.options = {
      nonVoters: [],
      electionTicks: 10,
      heartbeatTicks: 2,
      maxAppendEntries: 4,
      preVote: true,
      checkQuorum: true,
      drop: 0,
      duplicate: 0,
      maxDelay: 0,
      readyRate: 1,
      compactEvery: 0,
      clientTimeout: 60,
      ...options,
    };
    this.random = prng(options.seed);
    this.drop = this.options.drop;
    this.duplicate = this.options.duplicate;
    this.maxDelay = this.options.maxDelay;
    const conf: ConfState = {
      members: [
        ...this.options.voters.map((id) => ({ id, address: `sim:${id}`, voter: true })),
        ...this.options.nonVoters.map((id) => ({ id, address: `sim:${id}`, voter: false })),
      ],
    };
    for (const m of conf.members) this.addMember(m.id, conf);
  }

  /** Starts a member with an empty disk; `bootstrap` is its initial membership (empty to join later). */
  addMember(id: NodeId, bootstrap: ConfState = { members: [] }): void {
    const member: Member = { id, node: undefined, disk: { entries: [] }, bootstrap, state: emptyState(), applied: 0 };
    this.members.set(id, member);
    this.start(member);
  }

  private start(member: Member): void {
    const seed = Math.floor(this.random() * 2 ** 32);
    const config: RaftConfig = {
      id: member.id,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      maxAppendEntries: this.options.maxAppendEntries,
      preVote: this.options.preVote,
      checkQuorum: this.options.checkQuorum,
      random: prng(seed),
    };
    const { disk } = member;
    member.node = new RaftNode(config, {
      ...(disk.hardState ? { hardState: disk.hardState } : {}),
      ...(disk.snapshot ? { snapshot: disk.snapshot } : {}),
      entries: [...disk.entries],
      conf: member.bootstrap,
    });
    member.state = disk.snapshot ? decodeState(disk.snapshot.data) : emptyState();
    member.applied = disk.snapshot?.meta.index ?? 0;
  }

  node(id: NodeId): RaftNode {
    const node = this.members.get(id)?.node;
    if (!node) throw new Error(`sim: member ${id} is not running`);
    return node;
  }

  live(): Member[] {
    return [...this.members.values()].filter((m) => m.node);
  }

  /** The running leader with the highest term, if any. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const m of this.live()) {
      const s = m.node!.status();
      if (s.role === 'leader' && (!best || s.term > best.term)) best = { id: m.id, term: s.term };
    }
    return best?.id;
  }

  crash(id: NodeId): void {
    const member = this.members.get(id)!;
    member.node = undefined;
    for (const [clientId, op] of this.clients) {
      if (op?.node === id) this.finish(clientId, op, Infinity);
    }
  }

  restart(id: NodeId): void {
    const member = this.members.get(id)!;
    if (!member.node) this.start(member);
  }

  /** Cuts every link between members of different groups (members in no group are cut from all). */
  partition(groups: NodeId[][]): void {
    this.cut.clear();
    const groupOf = new Map<NodeId, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const a of this.members.keys()) {
      for (const b of this.members.keys()) {
        if (a !== b && (groupOf.get(a) === undefined || groupOf.get(a) !== groupOf.get(b))) this.cut.add(`${a}|${b}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** One logical tick: deliver what is due, tick every running member, run their drivers. */
  tick(): void {
    this.now++;
    const due = this.network.filter((d) => d.at <= this.now);
    this.network = this.network.filter((d) => d.at > this.now);
    for (const { message } of due) this.deliver(message);
    for (const m of this.live()) {
      m.node!.tick();
      this.maybeHandleReady(m);
    }
    this.expireClients();
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.tick();
  }

  private deliver(message: Message): void {
    const to = this.members.get(message.to);
    if (!to?.node || this.cut.has(`${message.from}|${message.to}`)) return;
    to.node.step(message);
    this.maybeHandleReady(to);
  }

  private maybeHandleReady(m: Member): void {
    if (this.random() < this.options.readyRate) this.handleReady(m);
  }

  /** Does what a driver does with every pending Ready of `m`. */
  handleReady(m: Member): void {
    const node = m.node!;
    while (node.hasReady()) {
      const rd = node.ready();
      this.persist(m, rd);
      for (const msg of rd.messages) this.send(msg);
      for (const e of rd.committed) this.apply(m, e);
      for (const rs of rd.readStates) this.readAnswered(m, rs.context, rs.index);
      node.advance(rd);
      this.serveReads(m);
      if (rd.softState?.role === 'leader') this.checkNewLeader(m);
      this.maybeCompact(m);
    }
  }

  private persist(m: Member, rd: Ready): void {
    const disk = m.disk;
    if (rd.snapshot) {
      disk.snapshot = rd.snapshot;
      disk.entries = [];
      this.checkSnapshot(m.id, rd.snapshot);
      m.state = decodeState(rd.snapshot.data);
      m.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const offset = disk.snapshot?.meta.index ?? 0;
      disk.entries = disk.entries.filter((e) => e.index < first);
      if (first !== offset + disk.entries.length + 1) {
        throw new InvariantViolation(`${m.id}: Ready entries start at ${first}, disk log ends at ${offset + disk.entries.length}`);
      }
      for (const e of rd.entries) {
        const prevTerm = e.index - 1 === offset ? (disk.snapshot?.meta.term ?? 0) : disk.entries[disk.entries.length - 1]!.term;
        this.checkLogMatching(m.id, e, prevTerm);
        disk.entries.push(e);
      }
    }
    if (rd.hardState) {
      const last = (disk.snapshot?.meta.index ?? 0) + disk.entries.length;
      if (rd.hardState.commit > last) {
        throw new InvariantViolation(`${m.id}: hard state commits ${rd.hardState.commit} beyond persisted ${last}`);
      }
      disk.hardState = rd.hardState;
    }
  }

  private checkLogMatching(id: NodeId, e: Entry, prevTerm: number): void {
    const key = `${e.index}:${e.term}`;
    const value = `${prevTerm}|${entryKey(e)}`;
    const seen = this.persistedAt.get(key);
    if (seen === undefined) this.persistedAt.set(key, value);
    else if (seen !== value) {
      throw new InvariantViolation(`log matching: ${id} persisted ${key} as ${value}, another member as ${seen}`);
    }
  }

  private checkSnapshot(id: NodeId, snapshot: Snapshot): void {
    const state = decoder.decode(snapshot.data);
    const seen = this.snapshotAt.get(snapshot.meta.index);
    if (seen === undefined) this.snapshotAt.set(snapshot.meta.index, state);
    else if (seen !== state) {
      throw new InvariantViolation(`state machine safety: ${id}'s snapshot at ${snapshot.meta.index} differs from another member's`);
    }
  }

  private send(message: Message): void {
    if (this.random() < this.drop) return;
    const copies = this.random() < this.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.network.push({ at: this.now + 1 + Math.floor(this.random() * (this.maxDelay + 1)), message });
    }
  }

  private apply(m: Member, e: Entry): void {
    if (e.index !== m.applied + 1) {
      throw new InvariantViolation(`${m.id}: applies ${e.index} after ${m.applied}`);
    }
    const persisted = (m.disk.snapshot?.meta.index ?? 0) + m.disk.entries.length;
    if (e.index > persisted) throw new InvariantViolation(`${m.id}: applies ${e.index} before persisting it`);
    const key = entryKey(e);
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) this.appliedAt.set(e.index, key);
    else if (seen !== key) {
      throw new InvariantViolation(`state machine safety: ${m.id} applied ${key} at ${e.index}, another member ${seen}`);
    }
    m.applied = e.index;
    if (e.type !== 'normal' || e.data.length === 0) return;
    const cmd = JSON.parse(decoder.decode(e.data)) as Command;
    const session = String(cmd.c);
    if ((m.state.sessions[session] ?? 0) >= cmd.s) return;
    m.state.sessions[session] = cmd.s;
    m.state.kv[cmd.k] = cmd.v;
    const op = this.clients.get(cmd.c);
    if (op && op.node === m.id && op.seq === cmd.s && op.event.kind === 'put') {
      this.acknowledged.push({ index: e.index, clientId: cmd.c, seq: cmd.s });
      this.finish(cmd.c, op, this.now);
    }
  }

  private readAnswered(m: Member, context: string, index: number): void {
    for (const op of this.clients.values()) {
      if (op && op.node === m.id && op.event.kind === 'get' && readContext(op) === context) op.readIndex = index;
    }
  }

  private serveReads(m: Member): void {
    for (const [clientId, op] of this.clients) {
      if (op?.node === m.id && op.readIndex !== undefined && m.applied >= op.readIndex) {
        op.event.output = m.state.kv[op.event.key] ?? '';
        this.finish(clientId, op, this.now);
      }
    }
  }

  private checkNewLeader(m: Member): void {
    const term = m.disk.hardState?.term ?? 0;
    const other = this.leaderOf.get(term);
    if (other !== undefined && other !== m.id) {
      throw new InvariantViolation(`election safety: ${m.id} and ${other} both lead term ${term}`);
    }
    this.leaderOf.set(term, m.id);
    // Leader completeness: the new leader's log (all on disk now) holds every committed entry.
    const offset = m.disk.snapshot?.meta.index ?? 0;
    for (const [index, key] of this.appliedAt) {
      if (index <= offset) continue;
      const e = m.disk.entries[index - offset - 1];
      if (!e || entryKey(e) !== key) {
        throw new InvariantViolation(`leader completeness: ${m.id} leads term ${term} without committed entry ${index}`);
      }
    }
  }

  private maybeCompact(m: Member): void {
    const every = this.options.compactEvery;
    const snapIndex = m.disk.snapshot?.meta.index ?? 0;
    if (every === 0 || m.applied - snapIndex < every) return;
    const node = m.node!;
    node.compact(m.applied, encodeState(m.state));
    m.disk.snapshot = node.snapshot();
    this.checkSnapshot(m.id, m.disk.snapshot!);
    m.disk.entries = m.disk.entries.filter((e) => e.index > m.applied);
  }

  /** Client `clientId` (one op at a time) asks member `via` to put key=value; false if refused at once. */
  put(clientId: number, via: NodeId, key: string, value: string): boolean {
    return this.invoke(clientId, via, { clientId, kind: 'put', key, value, call: this.now, return: Infinity }, (node, seq) =>
      node.propose(encoder.encode(JSON.stringify({ c: clientId, s: seq, k: key, v: value } satisfies Command))),
    );
  }

  get(clientId: number, via: NodeId, key: string): boolean {
    return this.invoke(clientId, via, { clientId, kind: 'get', key, call: this.now, return: Infinity }, (node, seq) =>
      node.readIndex(`c${clientId}:${seq}`),
    );
  }

  busy(clientId: number): boolean {
    return this.clients.get(clientId) !== undefined;
  }

  private invoke(clientId: number, via: NodeId, event: HistoryEvent, call: (node: RaftNode, seq: number) => void): boolean {
    if (this.busy(clientId)) throw new Error(`sim: client ${clientId} already has an operation running`);
    const member = this.members.get(via);
    if (!member?.node) return false;
    const seq = (this.seqs.get(clientId) ?? 0) + 1;
    this.seqs.set(clientId, seq);
    try {
      call(member.node, seq);
    } catch {
      return false; // Refused before reaching the log: the operation had no effect.
    }
    this.history.push(event);
    this.clients.set(clientId, { event, node: via, seq, deadline: this.now + this.options.clientTimeout });
    this.handleReady(member);
    return true;
  }

  private finish(clientId: number, op: PendingOp, at: number): void {
    op.event.return = at;
    this.clients.set(clientId, undefined);
  }

  private expireClients(): void {
    for (const [clientId, op] of this.clients) if (op && op.deadline <= this.now) this.finish(clientId, op, Infinity);
  }

  /** Proposes a membership change on the current leader; false when there is none or it refuses. */
  changeMembers(change: ConfChange): boolean {
    const leader = this.leader();
    if (!leader) return false;
    try {
      this.node(leader).proposeConfChange(change);
    } catch {
      return false;
    }
    this.handleReady(this.members.get(leader)!);
    return true;
  }

  member(id: NodeId): ConfMember {
    return { id, address: `sim:${id}`, voter: true };
  }

  /** Every running member's applied index, for convergence checks. */
  appliedIndex(id: NodeId): number {
    return this.members.get(id)!.applied;
  }

  kv(id: NodeId): Record<string, string> {
    return { ...this.members.get(id)!.state.kv };
  }

  inFlight(): number {
    return this.network.length;
  }
}

function readContext(op: PendingOp): string {
  return `c${op.event.clientId}:${op.seq}`;
}

function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${decoder.decode(e.data)}`;
}

function emptyState(): KvState {
  return { kv: {}, sessions: {} };
}

function encodeState(s: KvState): Uint8Array {
  return encoder.encode(JSON.stringify(s));
}

function decodeState(data: Uint8Array): KvState {
  return JSON.parse(decoder.decode(data)) as KvState;
}
