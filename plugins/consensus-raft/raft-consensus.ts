// The built-in consensus: the pure Raft core driven by a clock, the write-ahead log and the TCP
// transport. One pump handles each Ready in turn: persist, send, apply, serve reads, advance.

import { randomUUID } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import {
  NotLeaderError,
  ProposalOutcomeUnknownError,
  type Command,
  type Consensus,
  type ConsensusEvent,
  type LeaderInfo,
  type Member,
  type StateMachine,
} from '../../core/contracts/consensus.js';
import { abortError } from '../../core/abort.js';
import { resolveClusterKey } from '../../core/cluster/cluster-key.js';
import { decodeConfChange, ProposalDroppedError, RaftNode } from './core/index.js';
import type { ConfChange, ConfState, Entry, Message, Ready, Snapshot } from './core/index.js';
import { RaftStorage } from './io/storage.js';
import { RaftTransport, type MemberTls, type Sender } from './io/transport.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { advertisedAddress } from './advertise.js';
import { ticksOf, type RaftTiming } from './timing.js';

export interface RaftOptions<State> extends RaftTiming {
  nodeId: string;
  dataDir: string;
  bindAddr: string;
  /** consensus.advertise_addr: what peers dial; derived from the bound address when empty. */
  advertiseAddr: string;
  /** api.advertise, whose host stands in for a wildcard bind address. */
  apiAdvertise: string;
  /** Form a new cluster when this member has no state yet. */
  bootstrap: boolean;
  /** p2p.cluster_key: the key, a file holding it, or empty for an open cluster. */
  clusterKey: string;
  /** Mutual TLS between members, with security.tls and its ca_file. */
  tls?: MemberTls;
  maxAppendEntries: number;
  snapshotThreshold: number;
  snapshotIntervalMs: number;
  stateMachine: StateMachine<State>;
  logger: Logger;
  /** How long a proposal or read waits for a leader and its commit before failing. */
  requestTimeoutMs?: number;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export class RaftConsensus<State> implements Consensus<State> {
  readonly name = 'raft';
  private node: RaftNode | undefined;
  private storage: RaftStorage | undefined;
  private transport: RaftTransport | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> = Promise.resolve();
  private pumpQueued = false;
  private stopped = false;
  private id: string | undefined;
  private applied = { state: undefined as State, index: 0 };
  private snapshotIndex = 0;
  private conf: ConfState = { members: [] };
  private confChanged = false;
  private snapshotCheckDue = false;
  /**
   * Where each member listens, from every configuration this member has seen, applied or not:
   * a joining member must answer its leader before it has applied the entry that names it.
   */
  private readonly addresses = new Map<string, string>();
  private currentLeader: LeaderInfo | undefined;
  private advertised: string | undefined;
  /** The term and vote on disk, so the leader knows when its appends need not wait for its write. */
  private durable: { term: number; vote: string | null } = { term: 0, vote: null };
  private sequence = 0;
  private readonly proposals = new Map<string, Waiter<{ index: number; result: unknown }>>();
  private readonly reads = new Map<string, Waiter<number>>();
  private readonly pendingReads: { index: number; resolve: () => void }[] = [];
  private readonly listeners = new Set<(event: ConsensusEvent, state: State) => void>();
  private readonly leaderWaiters = new Set<() => void>();

  constructor(private readonly options: RaftOptions<State>) {
    this.applied.state = options.stateMachine.initial();
  }

  clusterId(): string | undefined {
    return this.id;
  }

  /** Where peers reach this member; known once the transport listens. */
  address(): string | undefined {
    return this.advertised;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const { options } = this;
    const ticks = ticksOf(options);
    const storage = (this.storage = await RaftStorage.open(options.dataDir, { signal, logger: options.logger }));
    const loaded = storage.load();
    this.id = loaded.meta?.clusterId;
    const transport = (this.transport = new RaftTransport({
      nodeId: options.nodeId,
      bindAddr: options.bindAddr,
      clusterKey: await resolveClusterKey(options.clusterKey),
      ...(options.tls ? { tls: options.tls } : {}),
      clusterId: () => this.id,
      advertise: () => this.advertised ?? options.bindAddr,
      logger: options.logger,
    }));
    transport.onMessage((message, sender) => this.receive(message, sender));
    transport.onPeerDown((peer) => this.peerDown(peer));
    await transport.start(signal);
    this.advertised = advertisedAddress({ advertise: options.advertiseAddr, bound: transport.address(), apiAdvertise: options.apiAdvertise, interfaces: networkInterfaces() });

    const { entries, hardState, snapshot } = loaded;
    if (hardState) this.durable = { term: hardState.term, vote: hardState.vote };
    const fresh = !loaded.meta && !hardState && !snapshot && entries.length === 0;
    let conf: ConfState = { members: [] };
    if (fresh && options.bootstrap) {
      this.id = randomUUID();
      conf = { members: [{ id: options.nodeId, address: this.advertised, voter: true }] };
      await storage.setMeta({ clusterId: this.id, nodeId: options.nodeId });
      options.logger.info({ clusterId: this.id }, 'consensus: formed a new cluster');
    } else if (loaded.meta && loaded.meta.nodeId !== options.nodeId) {
      throw new Error(`consensus.data_dir ${options.dataDir} belongs to node ${loaded.meta.nodeId}, not ${options.nodeId}`);
    }
    if (snapshot) {
      this.applied = { state: options.stateMachine.restore(snapshot.data), index: snapshot.meta.index };
      this.snapshotIndex = snapshot.meta.index;
    }
    const node = (this.node = new RaftNode(
      {
        id: options.nodeId,
        electionTicks: ticks.electionTicks,
        heartbeatTicks: ticks.heartbeatTicks,
        maxAppendEntries: options.maxAppendEntries,
        preVote: true,
        checkQuorum: true,
        random: Math.random,
      },
      { hardState, snapshot, entries, conf },
    ));
    this.conf = node.status().conf;
    this.learnAddresses(snapshot?.meta.conf.members ?? [], entries);
    this.learnAddresses(this.conf.members, []);
    this.ticker = setInterval(() => {
      this.node?.tick();
      this.pump();
    }, ticks.tickMs);
    this.snapshotTimer = setInterval(() => {
      this.snapshotCheckDue = true;
      this.pump();
    }, options.snapshotIntervalMs);
    this.pump();
  }

  private receive(message: Message, sender: Sender): void {
    if (!this.addresses.has(sender.id)) this.addresses.set(sender.id, sender.address);
    if (this.id === undefined) {
      // A member with no cluster yet adopts the cluster of the first leader that replicates to it.
      const adopted = sender.clusterId;
      if (adopted && (message.type === 'append' || message.type === 'snapshot' || message.type === 'heartbeat')) {
        this.id = adopted;
        void this.storage?.setMeta({ clusterId: adopted, nodeId: this.options.nodeId });
        this.options.logger.info({ clusterId: adopted, leader: message.from }, 'consensus: joined the cluster');
      }
    }
    this.node?.step(message);
    this.pump();
  }

  private peerDown(peer: string): void {
    if (!this.node || this.currentLeader?.id !== peer) return;
    // The leader's connection closed: do not wait out the election timeout, but stagger the
    // followers so they do not split the vote.
    this.node.forgetLeader();
    const delay = Math.random() * ticksOf(this.options).tickMs * 4;
    setTimeout(() => {
      if (this.stopped || this.node?.status().leader !== null) return;
      this.node.campaign();
      this.pump();
    }, delay).unref();
  }

  private pump(): void {
    if (this.pumpQueued || this.stopped) return;
    this.pumpQueued = true;
    this.pumping = this.pumping
      .then(async () => {
        this.pumpQueued = false;
        while (this.node?.hasReady() && !this.stopped) await this.handle(this.node.ready());
        this.leadAlone();
        await this.maybeSnapshot();
      })
      .catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'consensus: could not persist; stopping this member');
        this.stopped = true;
        this.failAll(error instanceof Error ? error : new Error(String(error)));
      });
  }

  /** The only voter need not wait out an election timeout to lead. */
  private leadAlone(): void {
    const node = this.node;
    if (!node || this.stopped) return;
    const status = node.status();
    if (status.role !== 'follower' || status.leader !== null) return;
    const voters = status.conf.members.filter((m) => m.voter);
    if (voters.length !== 1 || voters[0]!.id !== this.options.nodeId) return;
    node.campaign();
    this.pump();
  }

  private learnAddresses(members: ConfState['members'], entries: Entry[]): void {
    for (const member of members) this.addresses.set(member.id, member.address);
    for (const entry of entries) {
      if (entry.type !== 'config') continue;
      const change = decodeConfChange(entry.data);
      if (change?.type === 'set') this.addresses.set(change.member.id, change.member.address);
    }
  }

  private async handle(ready: Ready): Promise<void> {
    const node = this.node!;
    this.learnAddresses(ready.snapshot?.meta.conf.members ?? [], ready.entries);
    const early = this.appendsBeforeWrite(ready);
    if (early) for (const message of ready.messages) if (message.type === 'append') this.send(message);
    if (ready.snapshot || ready.entries.length > 0 || ready.hardState) {
      await this.storage!.save({ hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot });
      if (ready.hardState) this.durable = { term: ready.hardState.term, vote: ready.hardState.vote };
    }
    if (ready.snapshot) this.installSnapshot(ready.snapshot);
    for (const message of ready.messages) if (!(early && message.type === 'append')) this.send(message);
    for (const entry of ready.committed) this.apply(entry);
    for (const read of ready.readStates) this.reads.get(read.context)?.resolve(read.index);
    if (ready.softState) this.leaderChanged(ready.softState.leader);
    node.advance(ready);
    if (this.confChanged) {
      this.confChanged = false;
      this.conf = node.status().conf;
      this.emit({ type: 'members', members: this.members() });
    }
    this.servePendingReads();
  }

  /**
   * Whether the leader may send this Ready's appends while it writes their entries (Raft thesis
   * 10.2.1), so its fsync overlaps the followers'. Safe because the pump handles one Ready at a
   * time: acks that make these entries committed are acted on in a later Ready, after the write.
   * Not when an append would carry a commit index covering entries not yet on disk (a single
   * voter commits at once) or a term or vote not yet on disk.
   */
  private appendsBeforeWrite(ready: Ready): boolean {
    const first = ready.entries[0];
    if (!first || ready.snapshot || this.node!.status().role !== 'leader') return false;
    if (ready.hardState && (ready.hardState.term !== this.durable.term || ready.hardState.vote !== this.durable.vote)) return false;
    return ready.messages.every((message) => message.type !== 'append' || (message.commit ?? 0) < first.index);
  }

  private send(message: Message): void {
    const address = this.addresses.get(message.to);
    if (address) this.transport!.send({ id: message.to, address }, message);
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.applied = { state: this.options.stateMachine.restore(snapshot.data), index: snapshot.meta.index };
    this.snapshotIndex = snapshot.meta.index;
    this.conf = snapshot.meta.conf;
    this.emit({ type: 'snapshot', index: snapshot.meta.index });
    this.emit({ type: 'members', members: this.members() });
  }

  private apply(entry: Entry): void {
    if (entry.index <= this.applied.index) return;
    if (entry.type === 'config') {
      // The core changes the membership when this entry is advanced past.
      this.applied.index = entry.index;
      this.confChanged = true;
      this.emit({ type: 'applied', index: entry.index });
      return;
    }
    const envelope = entry.data.byteLength > 0 ? decodeEnvelope(entry.data) : undefined;
    let result: unknown;
    if (envelope) {
      const applied = this.options.stateMachine.apply(this.applied.state, envelope.command, entry.index);
      this.applied.state = applied.state;
      result = applied.result;
    }
    this.applied.index = entry.index;
    if (envelope) {
      const waiter = this.proposals.get(envelope.id);
      this.proposals.delete(envelope.id);
      waiter?.resolve({ index: entry.index, result });
    }
    this.emit({ type: 'applied', index: entry.index });
  }

  private leaderChanged(leader: string | null): void {
    const term = this.node!.status().term;
    const next = leader === null ? undefined : { id: leader, term };
    if (next?.id === this.currentLeader?.id && next?.term === this.currentLeader?.term) return;
    this.currentLeader = next;
    if (next) this.options.logger.info({ leader: next.id, term: next.term, self: next.id === this.options.nodeId }, 'consensus: leader elected');
    else this.options.logger.info({ term }, 'consensus: no leader');
    this.emit({ type: 'leader', leader: next });
    if (next) for (const wake of this.leaderWaiters) wake();
  }

  /** Every snapshot_interval: a snapshot once snapshot_threshold entries were applied since the last. */
  private async maybeSnapshot(): Promise<void> {
    if (!this.snapshotCheckDue) return;
    this.snapshotCheckDue = false;
    const { index, state } = this.applied;
    const node = this.node;
    if (index - this.snapshotIndex < this.options.snapshotThreshold || !node || this.stopped) return;
    node.compact(index, this.options.stateMachine.snapshot(state));
    await this.storage!.compact(node.snapshot()!);
    this.snapshotIndex = index;
    this.emit({ type: 'snapshot', index });
  }

  private emit(event: ConsensusEvent): void {
    for (const listener of this.listeners) listener(event, this.applied.state);
  }

  private servePendingReads(): void {
    for (let i = this.pendingReads.length - 1; i >= 0; i--) {
      const read = this.pendingReads[i]!;
      if (read.index <= this.applied.index) {
        this.pendingReads.splice(i, 1);
        read.resolve();
      }
    }
  }

  private deadline(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  /**
   * Runs `attempt` once a leader is known, and again after each leader change (and every
   * `retryAfterMs`, for attempts safe to repeat), until it settles or the deadline passes.
   */
  private async withLeader<T>(signal: AbortSignal, attempt: (wait: Waiter<T>) => void, retryAfterMs?: number): Promise<T> {
    for (;;) {
      if (this.stopped) throw new Error('consensus is stopped');
      if (signal.aborted) throw signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? new NotLeaderError(this.currentLeader) : abortError(signal);
      if (!this.currentLeader) {
        await this.until(signal, (wake) => this.leaderWaiters.add(wake), (wake) => this.leaderWaiters.delete(wake));
        continue;
      }
      const leader = this.currentLeader;
      const outcome = await new Promise<{ value?: T; retry?: true; error?: Error }>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const settle = (result: { value?: T; retry?: true; error?: Error }) => {
          signal.removeEventListener('abort', onAbort);
          this.leaderWaiters.delete(onLeader);
          clearTimeout(timer);
          resolve(result);
        };
        const onAbort = () => settle({ retry: true });
        const onLeader = () => {
          if (this.currentLeader?.id !== leader.id || this.currentLeader.term !== leader.term) settle({ retry: true });
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.leaderWaiters.add(onLeader);
        if (retryAfterMs !== undefined) timer = setTimeout(() => settle({ retry: true }), retryAfterMs);
        try {
          attempt({ resolve: (value) => settle({ value }), reject: (error) => settle({ error }) });
        } catch (error) {
          settle({ error: error as Error });
        }
      });
      if (outcome.error instanceof ProposalDroppedError) {
        // Refused before it went anywhere (a leader handing over, or one not yet ready): try again
        // on the next leader, or shortly on this one.
        await this.until(AbortSignal.any([signal, AbortSignal.timeout(this.retryMs())]), (wake) => this.leaderWaiters.add(wake), (wake) => this.leaderWaiters.delete(wake));
        continue;
      }
      if (outcome.error) throw outcome.error;
      if (!outcome.retry) return outcome.value as T;
    }
  }

  /** About two heartbeats: a refused or lost request is tried again after this. */
  private retryMs(): number {
    const ticks = ticksOf(this.options);
    return 2 * ticks.heartbeatTicks * ticks.tickMs;
  }

  private until(signal: AbortSignal, add: (wake: () => void) => void, remove: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        remove(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  async propose(command: Command, signal?: AbortSignal): Promise<{ index: number; result: unknown }> {
    const id = `${this.options.nodeId}:${++this.sequence}`;
    const data = encodeEnvelope({ id, command });
    const deadline = this.deadline(signal);
    // A proposal is put in the log once: retrying after a leader change could apply it twice.
    let proposed = false;
    let lost: NodeJS.Timeout | undefined;
    try {
      return await this.withLeader(deadline, (wait) => {
        this.proposals.set(id, wait);
        if (!proposed) {
          this.node!.propose(data);
          proposed = true;
          this.pump();
          return;
        }
        // The leader changed since. An entry the old leader replicated commits under the new one
        // within an election timeout; one it never appended (it died holding it) is lost, and the
        // caller hears so then, not at its deadline.
        clearTimeout(lost);
        lost = setTimeout(() => wait.reject(new ProposalOutcomeUnknownError()), this.options.election_timeout);
      });
    } finally {
      clearTimeout(lost);
      this.proposals.delete(id);
    }
  }

  async read(signal?: AbortSignal): Promise<State> {
    const deadline = this.deadline(signal);
    const contexts: string[] = [];
    let index: number;
    try {
      index = await this.withLeader<number>(
        deadline,
        (wait) => {
          const context = randomUUID();
          contexts.push(context);
          this.reads.set(context, wait);
          this.node!.readIndex(context);
          this.pump();
        },
        // Reads are safe to repeat: one the leader dropped is asked again.
        this.options.heartbeat_timeout,
      );
    } finally {
      for (const context of contexts) this.reads.delete(context);
    }
    if (index > this.applied.index) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.pendingReads.splice(this.pendingReads.indexOf(entry), 1);
          reject(abortError(deadline));
        };
        const entry = {
          index,
          resolve: () => {
            deadline.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        this.pendingReads.push(entry);
        deadline.addEventListener('abort', onAbort, { once: true });
      });
    }
    return this.applied.state;
  }

  state(): { state: State; index: number } {
    return { state: this.applied.state, index: this.applied.index };
  }

  leader(): LeaderInfo | undefined {
    return this.currentLeader;
  }

  members(): Member[] {
    return this.conf.members.map((m) => ({ ...m }));
  }

  async addMember(member: Member, signal?: AbortSignal): Promise<void> {
    await this.changeConf({ type: 'set', member: { id: member.id, address: member.address, voter: member.voter } }, signal);
  }

  async removeMember(id: string, signal?: AbortSignal): Promise<void> {
    await this.changeConf({ type: 'remove', id }, signal);
  }

  private async changeConf(change: ConfChange, signal?: AbortSignal): Promise<void> {
    const deadline = this.deadline(signal);
    const node = this.node;
    if (!node || this.currentLeader?.id !== this.options.nodeId) throw new NotLeaderError(this.currentLeader);
    const wanted = (conf: ConfState) =>
      change.type === 'remove'
        ? !conf.members.some((m) => m.id === change.id)
        : conf.members.some((m) => m.id === change.member.id && m.voter === change.member.voter && m.address === change.member.address);
    if (wanted(this.conf)) return;
    await new Promise<void>((resolve, reject) => {
      const stop = this.watch((event) => {
        if (event.type === 'members' && wanted(this.conf)) finish();
        if (event.type === 'leader' && event.leader?.id !== this.options.nodeId) finish(new NotLeaderError(event.leader));
      });
      const onAbort = () => finish(abortError(deadline));
      deadline.addEventListener('abort', onAbort, { once: true });
      function finish(error?: Error) {
        stop();
        deadline.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      }
      try {
        node.proposeConfChange(change);
        this.pump();
      } catch (error) {
        finish(error as Error);
      }
    });
  }

  async transferLeadership(signal?: AbortSignal): Promise<void> {
    const node = this.node;
    if (!node || this.currentLeader?.id !== this.options.nodeId) return;
    const status = node.status();
    const target = this.conf.members
      .filter((m) => m.voter && m.id !== this.options.nodeId)
      .sort((a, b) => (status.progress?.[b.id]?.match ?? 0) - (status.progress?.[a.id]?.match ?? 0))[0];
    if (!target) return;
    // A target that went away since it last spoke never campaigns: give up after two election
    // timeouts, as a leader does whose transfer stalls, whatever the caller would wait.
    const giveUp = AbortSignal.timeout(this.options.election_timeout * 2);
    const deadline = signal ? AbortSignal.any([signal, giveUp]) : giveUp;
    await new Promise<void>((resolve) => {
      const stop = this.watch((event) => {
        if (event.type === 'leader' && event.leader && event.leader.id !== this.options.nodeId) {
          this.options.logger.info({ leader: event.leader.id, term: event.leader.term }, 'consensus: handed leadership over');
          done();
        }
      });
      const done = () => {
        stop();
        deadline.removeEventListener('abort', done);
        resolve();
      };
      deadline.addEventListener('abort', done, { once: true });
      node.transferLeadership(target.id);
      this.pump();
    });
  }

  watch(listener: (event: ConsensusEvent, state: State) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private failAll(error: Error): void {
    for (const waiter of this.proposals.values()) waiter.reject(error);
    for (const waiter of this.reads.values()) waiter.reject(error);
    this.proposals.clear();
    this.reads.clear();
    for (const wake of this.leaderWaiters) wake();
  }

  async stop(): Promise<void> {
    if (!this.node && !this.transport && !this.storage) return;
    if (!this.stopped) await this.transferLeadership().catch(() => undefined);
    this.stopped = true;
    clearInterval(this.ticker);
    clearInterval(this.snapshotTimer);
    await this.pumping;
    this.failAll(new Error('consensus is stopped'));
    await this.transport?.stop();
    await this.storage?.close();
    this.node = undefined;
    this.transport = undefined;
    this.storage = undefined;
  }
}
