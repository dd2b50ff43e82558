// The Raft state machine of roles (follower, pre-candidate, candidate, leader) after etcd-io/raft:
// it reacts to ticks, peer messages and local requests by changing state and queueing messages.

import { applyConfChange, decodeConfChange, isMember, isVoter, voters } from './conf.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, majority, voteResult } from './quorum.js';
import type { ConfChange, ConfState, Entry, Message, NodeId, ReadState, Role, Snapshot } from './types.js';

export interface RaftConfig {
  id: NodeId;
  /** Ticks without a leader before campaigning; the timeout is randomized in [n, 2n). */
  electionTicks: number;
  /** Ticks between a leader's heartbeats; well below electionTicks. */
  heartbeatTicks: number;
  /** Most entries in one append message. */
  maxAppendEntries: number;
  /** Ask for pre-votes before raising the term, so a partitioned member cannot disrupt. */
  preVote: boolean;
  /** A leader steps down when a quorum went silent for an election timeout; followers keep a lease. */
  checkQuorum: boolean;
  /** Uniform in [0, 1); the only source of randomness. */
  random: () => number;
}

/** The context of vote requests caused by a leadership transfer: they bypass leases. */
export const TRANSFER_CONTEXT = 'transfer';

type Campaign = 'pre-vote' | 'election' | 'transfer';

interface PendingRead {
  context: string;
  index: number;
  from: NodeId;
  round: number;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  readonly log: RaftLog;
  conf: ConfState;
  progress = new Map<NodeId, Progress>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId | null = null;
  /**
   * A config entry that removes or demotes this leader is in its log: it appends nothing after
   * it, so that the remaining voters' logs stay at least as long as this member's and it can
   * vote for them while they do not know yet that it left.
   */
  private removingSelf = false;
  private confHistory: { index: number; conf: ConfState }[];
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private pendingReads: PendingRead[] = [];
  private readAcks = new Map<number, Set<NodeId>>();
  private readRound = 0;

  constructor(
    private readonly config: RaftConfig,
    log: RaftLog,
    conf: ConfState,
    term: number,
    vote: NodeId | null,
  ) {
    this.id = config.id;
    this.log = log;
    this.conf = conf;
    this.confHistory = [{ index: log.firstIndex() - 1, conf }];
    this.becomeFollower(term, null);
    this.vote = vote;
  }

  promotable(): boolean {
    return isVoter(this.conf, this.id);
  }

  tick(): void {
    if (this.role === 'leader') return this.tickHeartbeat();
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.config.preVote ? 'pre-vote' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (!this.promotable()) return this.becomeFollower(this.term, null);
      if (this.config.checkQuorum && !this.quorumActive()) return this.becomeFollower(this.term, null);
      // A snapshot message may have been lost: probe again, which resends it if still needed.
      for (const pr of this.progress.values()) if (pr.state === 'snapshot') pr.becomeProbe();
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    const active = hasQuorum(voters(this.conf), (id) => id === this.id || this.progress.get(id)?.recentActive === true);
    for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
    return active;
  }

  /** Campaigns unless this member cannot lead or must first apply a committed config change. */
  hup(kind: Campaign): void {
    if (this.role === 'leader' || !this.promotable()) return;
    const unapplied = this.log.slice(this.log.applied + 1, this.log.committed);
    if (unapplied.some((e) => e.type === 'config')) return;
    this.campaign(kind);
  }

  forgetLeader(): void {
    if (this.role === 'follower') this.leader = null;
  }

  private campaign(kind: Campaign): void {
    let voteTerm: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(voters(this.conf), this.votes) === 'won') {
      if (kind === 'pre-vote') return this.campaign('election');
      return this.becomeLeader();
    }
    for (const id of voters(this.conf)) {
      if (id === this.id) continue;
      this.send({
        type: kind === 'pre-vote' ? 'pre-vote' : 'vote',
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(kind === 'transfer' ? { context: TRANSFER_CONTEXT } : {}),
      });
    }
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.config.electionTicks + Math.floor(this.config.random() * this.config.electionTicks);
    this.leadTransferee = null;
    this.removingSelf = false;
    this.votes.clear();
    this.pendingReads = [];
    this.readAcks.clear();
    this.resetProgress();
  }

  private resetProgress(): void {
    this.progress.clear();
    for (const m of this.conf.members) this.progress.set(m.id, this.newProgress(m.id));
  }

  private newProgress(id: NodeId): Progress {
    const last = this.log.lastIndex();
    const pr = new Progress(id === this.id ? last : 0, last + 1);
    if (id === this.id) pr.recentActive = true;
    return pr;
  }

  becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    this.votes.clear();
    this.role = 'pre-candidate';
    this.leader = null;
    this.electionElapsed = 0;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.progress.get(this.id)?.becomeReplicate();
    this.removingSelf = this.log.slice(this.log.applied + 1, this.log.lastIndex()).some((e) => this.removesSelf(e));
    // An entry of the new term, so that the entries before it can commit.
    this.appendEntries([{ type: 'normal', data: new Uint8Array(0) }]);
    this.bcastAppend();
  }

  private appendEntries(entries: Pick<Entry, 'type' | 'data'>[]): void {
    const last = this.log.lastIndex();
    const appended = entries.map((e, i) => ({ index: last + 1 + i, term: this.term, type: e.type, data: e.data }));
    this.log.append(appended);
    if (appended.some((e) => this.removesSelf(e))) this.removingSelf = true;
    this.progress.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  private maybeCommit(): boolean {
    const index = committedIndex(voters(this.conf), (id) => this.progress.get(id)?.match ?? 0);
    return this.log.maybeCommit(index, this.term);
  }

  private send(m: Omit<Message, 'from' | 'term'> & { term?: number }): void {
    const termless = m.type === 'propose' || m.type === 'read-index';
    this.msgs.push({ ...m, from: this.id, term: termless ? 0 : (m.term ?? this.term) });
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(context?: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({
        type: 'heartbeat',
        to: id,
        commit: Math.min(pr.match, this.log.committed),
        ...(context !== undefined ? { context } : {}),
      });
    }
  }

  /** Sends `to` what it misses next; returns whether a message with entries (or a snapshot) went. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      const snapshot = this.log.snapshot;
      if (!snapshot) return false;
      pr.becomeSnapshot(snapshot.meta.index);
      this.send({ type: 'snapshot', to, snapshot });
      return true;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex(), this.config.maxAppendEntries);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'append', to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    if (pr.state === 'replicate' && entries.length > 0) pr.next = entries[entries.length - 1]!.index + 1;
    else if (pr.state === 'probe') pr.probeSent = true;
    return entries.length > 0;
  }

  /** Messages from peers, already validated. */
  step(m: Message): void {
    if (m.type === 'propose' || m.type === 'read-index') return this.stepRole(m);
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        const lease =
          (this.config.checkQuorum || (this.config.preVote && m.type === 'pre-vote')) &&
          this.leader !== null &&
          this.electionElapsed < this.config.electionTicks;
        // Heard from a live leader: this is a disruption, not a recovery.
        if (lease && m.context !== TRANSFER_CONTEXT) return;
      }
      if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && !m.reject)) {
        // Pre-votes never change terms.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat') {
        // Tells a stale leader (cut off, unable to raise its term with pre-vote) there is a newer term.
        this.send({ type: 'append-resp', to: m.from, index: this.log.lastIndex() });
      } else if (m.type === 'pre-vote') {
        this.send({ type: 'pre-vote-resp', to: m.from, reject: true });
      }
      return;
    }
    if (m.type === 'vote' || m.type === 'pre-vote') return this.stepVote(m);
    this.stepRole(m);
  }

  private stepVote(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (m.type === 'pre-vote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    if (canVote && this.log.isUpToDate(m.index!, m.logTerm!)) {
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepRole(m: Message): void {
    switch (this.role) {
      case 'leader':
        return this.stepLeader(m);
      case 'follower':
        return this.stepFollower(m);
      default:
        return this.stepCandidate(m);
    }
  }

  /** A local or forwarded proposal; false when it is dropped. */
  propose(entries: Pick<Entry, 'type' | 'data'>[]): boolean {
    if (this.role === 'leader') {
      if (this.leadTransferee !== null || this.removingSelf) return false;
      this.appendEntries(entries);
      this.bcastAppend();
      return true;
    }
    if (this.role === 'follower' && this.leader !== null) {
      this.send({ type: 'propose', to: this.leader, entries: entries.map((e) => ({ index: 0, term: 0, ...e })) });
      return true;
    }
    return false;
  }

  /** A local or forwarded read request; false when it is dropped. */
  readIndex(context: string, from: NodeId = this.id): boolean {
    if (this.role === 'follower' && this.leader !== null && from === this.id) {
      this.send({ type: 'read-index', to: this.leader, context });
      return true;
    }
    if (this.role !== 'leader') return false;
    // Until an entry of this term commits, the leader's commit index may lag the cluster's.
    if (this.log.term(this.log.committed) !== this.term) return false;
    const read = { context, index: this.log.committed, from, round: ++this.readRound };
    const voterIds = voters(this.conf);
    if (voterIds.length === 1 && voterIds[0] === this.id) {
      this.releaseRead(read);
      return true;
    }
    this.pendingReads.push(read);
    this.readAcks.set(read.round, new Set([this.id]));
    this.bcastHeartbeat(String(read.round));
    return true;
  }

  private releaseRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ index: read.index, context: read.context });
    else this.send({ type: 'read-index-resp', to: read.from, index: read.index, context: read.context });
  }

  private ackRead(from: NodeId, context: string): void {
    const round = Number(context);
    const acks = this.readAcks.get(round);
    if (!acks) return;
    acks.add(from);
    const voterIds = voters(this.conf);
    if (voterIds.filter((id) => acks.has(id)).length < majority(voterIds.length)) return;
    const released = this.pendingReads.filter((r) => r.round <= round);
    this.pendingReads = this.pendingReads.filter((r) => r.round > round);
    for (const r of released) {
      this.readAcks.delete(r.round);
      this.releaseRead(r);
    }
  }

  transferLeadership(to: NodeId): void {
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.send({ type: 'timeout-now', to });
    else this.sendAppend(to);
  }

  private stepLeader(m: Message): void {
    if (m.type === 'propose') {
      if (m.entries!.some((e) => e.type !== 'normal')) return;
      this.propose(m.entries!);
      return;
    }
    if (m.type === 'read-index') {
      this.readIndex(m.context!, m.from);
      return;
    }
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.type === 'heartbeat-resp') {
      pr.probeSent = false;
      if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
      if (m.context !== undefined) this.ackRead(m.from, m.context);
    } else if (m.type === 'append-resp') {
      this.handleAppendResp(m, pr);
    }
  }

  private handleAppendResp(m: Message, pr: Progress): void {
    if (m.reject) {
      const hint =
        m.logTerm !== undefined && m.logTerm > 0
          ? this.log.findConflictByTerm(m.rejectHint!, m.logTerm).index
          : m.rejectHint!;
      if (pr.maybeDecrTo(m.index!, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    // A probe answered at the known match still shows where the logs agree: start streaming.
    const probeAnswered = pr.state === 'probe' && pr.match === m.index;
    if (!pr.maybeUpdate(m.index!) && !probeAnswered) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    }
    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from);
    while (pr.state === 'replicate' && pr.next <= this.log.lastIndex() && this.sendAppend(m.from, false)) {
      // Streams what the follower misses, maxAppendEntries at a time.
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeout-now', to: m.from });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'propose':
        return; // Forwarding once is enough: a proposal does not chase leaders around.
      case 'read-index':
        return;
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleAppend(m);
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.log.commitTo(m.commit!);
        this.send({ type: 'heartbeat-resp', to: m.from, ...(m.context !== undefined ? { context: m.context } : {}) });
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        return this.handleSnapshot(m.snapshot!, m.from);
      case 'read-index-resp':
        this.readStates.push({ index: m.index!, context: m.context! });
        return;
      case 'timeout-now':
        if (this.promotable()) this.campaign('transfer');
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const respType = this.role === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      this.becomeFollower(m.term, m.from);
      return this.stepFollower(m);
    }
    if (m.type !== respType) return;
    this.votes.set(m.from, !m.reject);
    const result = voteResult(voters(this.conf), this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.campaign('election');
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  private handleAppend(m: Message): void {
    if (m.index! < this.log.committed) {
      this.send({ type: 'append-resp', to: m.from, index: this.log.committed });
      return;
    }
    const last = this.log.maybeAppend(m.index!, m.logTerm!, m.commit!, m.entries ?? []);
    if (last !== undefined) {
      this.send({ type: 'append-resp', to: m.from, index: last });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index!, this.log.lastIndex()), m.logTerm!);
    this.send({ type: 'append-resp', to: m.from, index: m.index!, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleSnapshot(snapshot: Snapshot, from: NodeId): void {
    const { index, term } = snapshot.meta;
    if (index > this.log.committed) {
      if (this.log.matchTerm(index, term)) {
        this.log.commitTo(index);
      } else {
        this.log.restore(snapshot);
        this.conf = snapshot.meta.conf;
        this.confHistory = [{ index, conf: this.conf }];
        this.resetProgress();
      }
    }
    // Only committed entries are known to match the leader's log: report those, never more.
    this.send({ type: 'append-resp', to: from, index: this.log.committed });
  }

  /** A committed config entry was applied: the new membership takes effect now. */
  applyConfChange(index: number, change: ConfChange): void {
    this.conf = applyConfChange(this.conf, change);
    this.confHistory.push({ index, conf: this.conf });
    for (const id of [...this.progress.keys()]) if (!isMember(this.conf, id)) this.progress.delete(id);
    for (const m of this.conf.members) if (!this.progress.has(m.id)) this.progress.set(m.id, this.newProgress(m.id));
    if (this.role !== 'leader') return;
    if (!this.promotable()) return this.handOver();
    if (this.leadTransferee !== null && !isVoter(this.conf, this.leadTransferee)) this.leadTransferee = null;
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, false);
  }

  /**
   * This leader was removed (or demoted). Stepping down at once can leave the cluster without a
   * leader: the others may not know the removal committed yet and still need this member's vote,
   * which it refuses when its log is longer than theirs. So it hands leadership to the most
   * caught-up voter first, and steps down by itself after an election timeout.
   */
  private handOver(): void {
    let best: NodeId | null = null;
    for (const id of voters(this.conf)) {
      if (best === null || this.progress.get(id)!.match > this.progress.get(best)!.match) best = id;
    }
    if (best === null) return this.becomeFollower(this.term, null);
    this.transferLeadership(best);
  }

  private removesSelf(e: Entry): boolean {
    if (e.type !== 'config') return false;
    const change = decodeConfChange(e.data);
    if (!change) return false;
    return change.type === 'remove' ? change.id === this.id : change.member.id === this.id && !change.member.voter;
  }

  /** The membership in force at `index` (for a snapshot taken there). */
  confAt(index: number): ConfState {
    let conf = this.confHistory[0]!.conf;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf;
  }

  compact(snapshot: Snapshot): void {
    this.log.compact(snapshot);
    const keep = this.confHistory.filter((h) => h.index > snapshot.meta.index);
    this.confHistory = [{ index: snapshot.meta.index, conf: snapshot.meta.conf }, ...keep];
  }
}
