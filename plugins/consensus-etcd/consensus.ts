// Consensus on an external etcd: commands are keys under <prefix>/log/, the etcd revision of each
// put is its log index, and a watch applies them in revision order on every member.
//
// Keys below <prefix>/: cluster-id (created once), log/<request id>, snapshot (state machine
// snapshot + members at a revision), election/leader/<lease> (a key per candidate on its lease;
// the oldest key leads, its create revision is the term). Members are the nodes, changed through
// the log; a voter is a node that campaigns. etcd's own members are etcd's business.

import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3, type IOptions, type Lease, type Namespace, type Watcher } from 'etcd3';

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;
import { abortError, linkSignals, unlessAborted } from '../../core/abort.js';
import {
  ClusterMismatchError,
  NotLeaderError,
  type Command,
  type Consensus,
  type ConsensusEvent,
  type LeaderInfo,
  type Member,
  type StateMachine,
} from '../../core/contracts/consensus.js';
import { ProductError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { encodeEntry, parseEntry, parseMember, type LogEntry } from './log-entry.js';
import { etcdConsensusConfig, type EtcdConsensusConfig, type EtcdConsensusOptions } from './options.js';
import { Replica } from './replica.js';
import { CLUSTER_ID, LOG, SNAPSHOT, storeSnapshot } from './snapshot-store.js';
import { parseSnapshot, type StoredSnapshot } from './stored-snapshot.js';

const ELECTION_KEYS = 'election/leader/';
const CLUSTER_ID_FILE = 'etcd-cluster-id';
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;

interface Proposal {
  resolve(value: { index: number; result: unknown }): void;
  reject(error: Error): void;
  /** The put's revision, once etcd has answered. */
  revision?: number;
}

interface AppliedWaiter {
  revision: number;
  resolve(): void;
  reject(error: Error): void;
}

type Listener<State> = (event: ConsensusEvent, state: State) => void;

export class EtcdConsensus<State = unknown> implements Consensus<State> {
  readonly name = 'etcd';
  private readonly config: EtcdConsensusConfig;
  private readonly logger: Logger;
  private readonly replica: Replica<State>;
  private readonly lifetime = new AbortController();
  private client: Etcd3 | undefined;
  private ns: Namespace | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private running = false;
  private cluster: string | undefined;
  private currentLeader: LeaderInfo | undefined;
  private leaderRefresh: Promise<void> = Promise.resolve();
  /** The lease of this node's election key while it campaigns. */
  private campaign: Lease | undefined;
  private holdCampaign = false;
  private logWatcher: Watcher | undefined;
  private electionWatcher: Watcher | undefined;
  private logRetryMs = RETRY_MIN_MS;
  private snapshotting = false;
  private entriesSinceSnapshot = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners = new Set<Listener<State>>();
  private readonly proposals = new Map<string, Proposal>();
  private readonly waiters = new Set<AppliedWaiter>();

  constructor(options: EtcdConsensusOptions<State>) {
    this.config = etcdConsensusConfig(options as EtcdConsensusOptions<unknown>);
    this.logger = options.logger;
    this.replica = new Replica(options.stateMachine as StateMachine<State>);
  }

  start(signal?: AbortSignal): Promise<void> {
    this.starting ??= this.open(signal).catch(async (error: unknown) => {
      await this.close();
      throw error;
    });
    return this.starting;
  }

  stop(): Promise<void> {
    if (!this.starting) return Promise.resolve();
    this.stopping ??= (async () => {
      this.lifetime.abort(new Error('consensus etcd stopped'));
      await this.starting?.catch(() => undefined);
      await this.close();
    })();
    return this.stopping;
  }

  /** etcd keeps its own membership: nodes have nothing to dial each other at. */
  address(): undefined {
    return undefined;
  }

  clusterId(): string | undefined {
    return this.cluster;
  }

  state(): { state: State; index: number } {
    return { state: this.replica.state, index: this.replica.index };
  }

  leader(): LeaderInfo | undefined {
    return this.currentLeader;
  }

  members(): Member[] {
    return this.replica.members.map((m) => ({ ...m }));
  }

  watch(listener: Listener<State>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async propose(command: Command, signal?: AbortSignal): Promise<{ index: number; result: unknown }> {
    if (typeof command?.type !== 'string' || command.type === '') throw new TypeError('consensus etcd: command.type must be a non-empty string');
    return this.submit({ id: randomUUID(), op: 'command', command: { type: command.type, payload: command.payload } }, signal);
  }

  async read(signal?: AbortSignal): Promise<State> {
    this.assertRunning();
    const head = await this.logHead(signal);
    await this.waitApplied(head, signal);
    return this.replica.state;
  }

  async addMember(member: Member, signal?: AbortSignal): Promise<void> {
    const valid = parseMember(member);
    if (!valid) throw new TypeError('consensus etcd: a member is {id: non-empty string, address: string, voter: boolean}');
    await this.submit({ id: randomUUID(), op: 'member-set', member: valid }, signal);
  }

  async removeMember(id: string, signal?: AbortSignal): Promise<void> {
    if (typeof id !== 'string' || id === '') throw new TypeError('consensus etcd: a member id is a non-empty string');
    await this.submit({ id: randomUUID(), op: 'member-remove', memberId: id }, signal);
  }

  /** Resigns the election once another voter is campaigning, and waits until it leads. */
  async transferLeadership(signal?: AbortSignal): Promise<void> {
    this.assertRunning();
    await this.readLeader(signal);
    if (this.currentLeader?.id !== this.config.nodeId || !this.campaign) throw new NotLeaderError(this.currentLeader);
    const candidates = await this.call(this.ns!.getAll().prefix(ELECTION_KEYS).count(), signal);
    if (candidates < 2) throw new Error('consensus etcd: no other voter is campaigning to take leadership over');
    const campaign = this.campaign;
    this.campaign = undefined;
    this.holdCampaign = true;
    try {
      await campaign.revoke();
      await this.until(() => this.currentLeader !== undefined && this.currentLeader.id !== this.config.nodeId, signal);
    } finally {
      this.holdCampaign = false;
      this.reconcileCampaign();
    }
  }

  private async open(signal: AbortSignal | undefined): Promise<void> {
    const linked = linkSignals(this.lifetime.signal, ...(signal ? [signal] : []));
    try {
      const { requestTimeoutMs } = this.config;
      this.client = new Etcd3({
        hosts: this.config.endpoints,
        ...(this.config.credentials ? { credentials: this.config.credentials } : {}),
        dialTimeout: requestTimeoutMs,
        defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
        faultHandling: { watchBackoff: watchBackoff(RETRY_MIN_MS) },
      });
      this.ns = this.client.namespace(`${this.config.prefix}/`);
      this.cluster = await this.joinCluster(linked.signal);
      this.pinClusterId(this.cluster);
      this.watchLog(await this.catchUp(linked.signal));
      this.running = true;
      this.watchElection();
      await this.joinAsMember(linked.signal);
      this.reconcileCampaign();
      this.every(this.config.snapshotIntervalMs, () => this.snapshotIfDue());
    } finally {
      linked.unlink();
    }
  }

  /** Creates the cluster id once (txn on its absence), or reads the one that exists; waits for etcd. */
  private async joinCluster(signal: AbortSignal): Promise<string> {
    const deadline = Date.now() + this.config.startTimeoutMs;
    const fresh = randomUUID();
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.ns!.if(CLUSTER_ID, 'Create', '==', 0)
          .then(this.ns!.put(CLUSTER_ID).value(fresh))
          .else(this.ns!.get(CLUSTER_ID))
          .options(this.callOptions(Math.max(1, Math.min(this.config.requestTimeoutMs, deadline - Date.now()))))
          .commit();
        if (result.succeeded) return fresh;
        const existing = result.responses[0]?.response_range?.kvs?.[0]?.value?.toString();
        if (!existing) throw new Error(`${this.config.prefix}/${CLUSTER_ID} is empty`);
        return existing;
      } catch (error) {
        if (signal.aborted) throw abortError(signal);
        if (Date.now() >= deadline) {
          throw new ProductError(
            'OD_ERR_PLUGIN_START',
            `consensus.etcd.endpoints: no etcd answered at ${this.config.endpoints.join(', ')} within ${this.config.startTimeoutMs} ms (${message(error)})`,
            { cause: error },
          );
        }
        await this.sleep(Math.min(RETRY_MIN_MS * 2 ** attempt, RETRY_MAX_MS, Math.max(1, deadline - Date.now())), signal);
      }
    }
  }

  private pinClusterId(id: string): void {
    if (!this.config.dataDir) return;
    const file = join(this.config.dataDir, CLUSTER_ID_FILE);
    let pinned: string | undefined;
    try {
      pinned = readFileSync(file, 'utf8').trim();
    } catch {
      pinned = undefined;
    }
    if (pinned && pinned !== id) throw new ClusterMismatchError(pinned, id);
    if (!pinned) {
      mkdirSync(this.config.dataDir, { recursive: true });
      writeFileSync(file, `${id}\n`);
    }
  }

  /** The revision of the newest log entry: every command committed before this call is at or below it. */
  private async logHead(signal?: AbortSignal): Promise<number> {
    const result = await this.call(this.ns!.getAll().prefix(LOG).sort('Mod', 'Descend').limit(1).exec(), signal);
    const head = result.kvs[0];
    return head ? Number(head.mod_revision) : 0;
  }

  /**
   * Reads, at one revision, the snapshot and the log keys above what this member applied; applies
   * them and returns that revision. The watch then starts after it, so etcd's history below it
   * (compacted by the leader or by etcd's auto-compaction) is never needed.
   */
  private async catchUp(signal: AbortSignal): Promise<number> {
    const ns = this.ns!;
    const read = await this.call(
      ns
        .if(CLUSTER_ID, 'Value', '==', this.cluster!)
        .then(ns.get(SNAPSHOT), ns.getAll().prefix(LOG).minModRevision(String(this.replica.index + 1)).sort('Mod', 'Ascend'))
        .commit(),
      signal,
    );
    if (!read.succeeded) throw new Error(`consensus etcd: ${this.config.prefix}/${CLUSTER_ID} is no longer ${this.cluster}; refusing to follow another cluster's log`);
    const snapshotKv = read.responses[0]?.response_range.kvs[0];
    if (snapshotKv) {
      const snapshot = parseSnapshot(snapshotKv.value);
      if ('invalid' in snapshot) throw new Error(`consensus etcd: ${this.config.prefix}/${SNAPSHOT} is not a snapshot: ${snapshot.invalid}`);
      if (snapshot.revision > this.replica.index) this.restoreFrom(snapshot);
    }
    for (const kv of read.responses[1]?.response_range.kvs ?? []) {
      const revision = Number(kv.mod_revision);
      if (revision > this.replica.index) this.applyAt(kv.value, revision);
    }
    return Number(read.header.revision);
  }

  private watchLog(after: number): void {
    if (this.lifetime.signal.aborted) return;
    const watcher = this.ns!.watch().prefix(LOG).startRevision(String(after + 1)).watcher();
    this.logWatcher = watcher;
    watcher.on('data', (response) => {
      if (this.logWatcher !== watcher) return;
      this.logRetryMs = RETRY_MIN_MS;
      for (const event of response.events) {
        if (event.type !== 'Put') continue;
        const revision = Number(event.kv.mod_revision);
        if (revision > this.replica.index) this.applyAt(event.kv.value, revision);
      }
    });
    // etcd3 resumes a dropped watch from the last response's header revision, which can pass events
    // it has not sent yet; this member catches up from what it applied instead.
    const failed = (error: Error) => this.logWatchFailed(watcher, error);
    watcher.on('disconnected', failed);
    watcher.on('error', failed);
  }

  /** A watch whose start revision was compacted away ends here too. */
  private logWatchFailed(watcher: Watcher, error: Error): void {
    if (this.logWatcher !== watcher) return;
    this.logWatcher = undefined;
    watcher.cancel().catch(() => undefined);
    if (this.lifetime.signal.aborted) return;
    this.logger.warn({ err: error, applied: this.replica.index }, 'consensus etcd: log watch failed; resuming');
    this.resumeLog();
  }

  private resumeLog(): void {
    const delay = this.logRetryMs;
    this.logRetryMs = Math.min(this.logRetryMs * 2, RETRY_MAX_MS);
    this.after(delay, async () => {
      try {
        this.watchLog(await this.catchUp(this.lifetime.signal));
      } catch (error) {
        if (this.lifetime.signal.aborted) return;
        this.logger.warn({ err: error }, 'consensus etcd: catching up on the log failed');
        this.resumeLog();
      }
    });
  }

  private applyAt(value: Buffer, revision: number): void {
    const entry = parseEntry(value);
    if ('invalid' in entry) {
      this.logger.warn({ revision, problem: entry.invalid }, 'consensus etcd: skipped a log key that is not an entry');
      this.replica.skip(revision);
      this.afterApply(revision, false);
      return;
    }
    const outcome = this.replica.apply(entry, revision);
    const proposal = this.proposals.get(entry.id);
    if (proposal) {
      this.proposals.delete(entry.id);
      if (outcome.ok) proposal.resolve({ index: revision, result: outcome.result });
      else proposal.reject(outcome.error);
    }
    if (!outcome.ok) this.logger.error({ err: outcome.error, revision }, 'consensus etcd: the state machine threw; the command changed nothing');
    this.entriesSinceSnapshot++;
    this.afterApply(revision, entry.op !== 'command');
  }

  private afterApply(revision: number, membersChanged: boolean): void {
    this.emit({ type: 'applied', index: revision });
    if (membersChanged) {
      this.emit({ type: 'members', members: this.members() });
      this.reconcileCampaign();
    }
    this.releaseWaiters();
  }

  private restoreFrom(snapshot: StoredSnapshot): void {
    this.replica.restore(snapshot);
    this.entriesSinceSnapshot = 0;
    for (const [id, proposal] of this.proposals) {
      if (proposal.revision !== undefined && proposal.revision <= snapshot.revision) {
        this.proposals.delete(id);
        proposal.reject(restoredOver(proposal.revision));
      }
    }
    this.emit({ type: 'snapshot', index: snapshot.revision });
    this.emit({ type: 'members', members: this.members() });
    this.reconcileCampaign();
    this.releaseWaiters();
  }

  private async submit(entry: LogEntry, signal?: AbortSignal): Promise<{ index: number; result: unknown }> {
    this.assertRunning();
    if (signal?.aborted) throw abortError(signal);
    let encoded: string;
    try {
      encoded = encodeEntry(entry);
    } catch (error) {
      throw new TypeError(`consensus etcd: the command is not JSON-serialisable (${message(error)})`);
    }
    let proposal!: Proposal;
    const applied = new Promise<{ index: number; result: unknown }>((resolve, reject) => {
      proposal = { resolve, reject };
    });
    this.proposals.set(entry.id, proposal);
    const onAbort = () => {
      this.proposals.delete(entry.id);
      proposal.reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const put = await this.ns!.put(`${LOG}${entry.id}`).value(encoded).exec();
      proposal.revision = Number(put.header.revision);
      if (this.proposals.has(entry.id) && this.replica.index >= proposal.revision) {
        this.proposals.delete(entry.id);
        proposal.reject(restoredOver(proposal.revision));
      }
    } catch (error) {
      if (this.proposals.delete(entry.id)) {
        proposal.reject(new ProductError('OD_ERR_INTERNAL', `consensus etcd: could not write to ${this.config.endpoints.join(', ')}: ${message(error)}`, { cause: error }));
      }
    }
    try {
      return await applied;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async joinAsMember(signal: AbortSignal): Promise<void> {
    const self = this.replica.members.find((m) => m.id === this.config.nodeId);
    if (self && self.address === this.config.address && self.voter === this.config.voter) return;
    await this.submit({ id: randomUUID(), op: 'member-set', member: { id: this.config.nodeId, address: this.config.address, voter: this.config.voter } }, signal);
  }

  /** Campaigns while this node is a voting member, and only then. */
  private reconcileCampaign(): void {
    const self = this.replica.members.find((m) => m.id === this.config.nodeId);
    const wanted = this.running && !this.lifetime.signal.aborted && !this.holdCampaign && self?.voter === true;
    if (wanted && !this.campaign) this.startCampaign();
    else if (!wanted && this.campaign) {
      const campaign = this.campaign;
      this.campaign = undefined;
      campaign.revoke().catch((error: unknown) => this.logger.warn({ err: error }, 'consensus etcd: resigning the election failed'));
    }
  }

  /**
   * etcd's election: a key per candidate on its own lease; the oldest key leads (see readLeader).
   * Not etcd3's Campaign, whose wait for its predecessor's key outlives a resign and a closed client.
   */
  private startCampaign(): void {
    const lease = this.ns!.lease(this.config.leaseTtlSeconds);
    this.campaign = lease;
    const lost = (error: unknown) => {
      if (this.campaign !== lease) return;
      this.campaign = undefined;
      lease.revoke().catch(() => undefined);
      if (this.lifetime.signal.aborted) return;
      this.logger.warn({ err: error }, 'consensus etcd: the campaign lost its lease; campaigning again');
      this.refreshLeader();
      this.after(RETRY_MIN_MS * 5, async () => this.reconcileCampaign());
    };
    lease.on('lost', lost);
    lease
      .grant()
      .then((id) => lease.put(`${ELECTION_KEYS}${id}`).value(this.config.nodeId).exec())
      .then(() => this.refreshLeader(), lost);
  }

  private watchElection(): void {
    if (this.lifetime.signal.aborted) return;
    const watcher = this.ns!.watch().prefix(ELECTION_KEYS).watcher();
    this.electionWatcher = watcher;
    watcher.on('connected', () => this.refreshLeader());
    watcher.on('put', () => this.refreshLeader());
    watcher.on('delete', () => this.refreshLeader());
    watcher.on('error', (error) => {
      if (this.electionWatcher !== watcher) return;
      this.electionWatcher = undefined;
      if (this.lifetime.signal.aborted) return;
      this.logger.warn({ err: error }, 'consensus etcd: election watch failed; watching again');
      this.after(RETRY_MAX_MS, async () => this.watchElection());
    });
  }

  private refreshLeader(): void {
    this.leaderRefresh = this.leaderRefresh
      .then(() => this.readLeader())
      .catch((error: unknown) => {
        if (!this.lifetime.signal.aborted) this.logger.warn({ err: error }, 'consensus etcd: reading the leader failed');
      });
  }

  /** The leader is the oldest election key (etcd's election rule); its create revision is the term. */
  private async readLeader(signal?: AbortSignal): Promise<void> {
    const result = await this.call(this.ns!.getAll().prefix(ELECTION_KEYS).sort('Create', 'Ascend').limit(1).exec(), signal);
    const kv = result.kvs[0];
    const id = kv?.value.toString();
    const next = kv && id ? { id, term: Number(kv.create_revision) } : undefined;
    const previous = this.currentLeader;
    if (previous?.id === next?.id && previous?.term === next?.term) return;
    this.currentLeader = next;
    this.emit({ type: 'leader', leader: next ? { ...next } : undefined });
  }

  private async snapshotIfDue(): Promise<void> {
    if (this.snapshotting || this.entriesSinceSnapshot < this.config.snapshotThreshold) return;
    if (this.currentLeader?.id !== this.config.nodeId) return;
    this.snapshotting = true;
    try {
      await this.writeSnapshot();
    } catch (error) {
      if (!this.lifetime.signal.aborted) this.logger.warn({ err: error }, 'consensus etcd: snapshot failed');
    } finally {
      this.snapshotting = false;
    }
  }

  private async writeSnapshot(): Promise<void> {
    const snapshot = this.replica.snapshot();
    const written = await storeSnapshot(this.client!, this.ns!, {
      cluster: this.cluster!,
      snapshot,
      compactHistory: this.config.compactHistory,
      deadline: () => this.callOptions(),
    });
    if (!written) return;
    this.entriesSinceSnapshot = 0;
    this.emit({ type: 'snapshot', index: snapshot.revision });
  }

  private waitApplied(revision: number, signal?: AbortSignal): Promise<void> {
    if (this.replica.index >= revision) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(abortError(signal!));
      };
      const waiter: AppliedWaiter = {
        revision,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaseWaiters(): void {
    for (const waiter of this.waiters) {
      if (waiter.revision <= this.replica.index) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private until(condition: () => boolean, signal?: AbortSignal): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const linked = linkSignals(this.lifetime.signal, ...(signal ? [signal] : []));
      const unwatch = this.watch(() => {
        if (!condition()) return;
        done();
        resolve();
      });
      const onAbort = () => {
        done();
        reject(abortError(linked.signal));
      };
      const done = () => {
        unwatch();
        linked.signal.removeEventListener('abort', onAbort);
        linked.unlink();
      };
      linked.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private emit(event: ConsensusEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event, this.replica.state);
      } catch (error) {
        this.logger.error({ err: error, event: event.type }, 'consensus etcd: a watch listener threw');
      }
    }
  }

  private async close(): Promise<void> {
    this.running = false;
    if (!this.lifetime.signal.aborted) this.lifetime.abort(new Error('consensus etcd stopped'));
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const stopped = new Error('consensus etcd stopped');
    for (const proposal of this.proposals.values()) proposal.reject(stopped);
    this.proposals.clear();
    for (const waiter of this.waiters) waiter.reject(stopped);
    this.waiters.clear();
    const campaign = this.campaign;
    this.campaign = undefined;
    const watchers = [this.logWatcher, this.electionWatcher];
    this.logWatcher = undefined;
    this.electionWatcher = undefined;
    await Promise.allSettled([campaign?.revoke(), ...watchers.map((w) => w?.cancel())]);
    await this.leaderRefresh;
    this.client?.close();
    this.client = undefined;
  }

  private assertRunning(): void {
    if (!this.running || this.lifetime.signal.aborted) throw new Error('consensus etcd is not running (call start first)');
  }

  private callOptions(timeoutMs = this.config.requestTimeoutMs): { deadline: number } {
    return { deadline: Date.now() + timeoutMs };
  }

  /** etcd calls cannot be cancelled; a caller's abort stops the wait while the call runs out its deadline. */
  private call<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
    return signal ? unlessAborted(promise, signal) : promise;
  }

  private after(ms: number, task: () => Promise<void>): void {
    if (this.lifetime.signal.aborted) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.lifetime.signal.aborted) void task();
    }, ms);
    this.timers.add(timer);
  }

  private every(ms: number, task: () => Promise<void>): void {
    this.after(ms, async () => {
      await task();
      this.every(ms, task);
    });
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * etcd3 re-opens a dropped watch stream after this backoff. Its timer outlives client.close(), so
 * it stays short: a stopped member keeps the event loop alive for at most RETRY_MAX_MS.
 */
function watchBackoff(ms: number): WatchBackoff {
  return { duration: ms, next: () => watchBackoff(Math.min(ms * 2, RETRY_MAX_MS)) };
}

function restoredOver(revision: number): Error {
  return new Error(`consensus etcd: the command at revision ${revision} was applied through a snapshot; its result is unknown`);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
