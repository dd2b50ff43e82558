// RaftNode: the public face of the core. The driver ticks it, steps peer messages into it, asks
// it to propose, and drains Ready batches of what to persist, send and apply.

import { confChangeProblem, decodeConfChange, encodeConfChange, isVoter } from './conf.js';
import { RaftLog } from './log.js';
import { Raft, type RaftConfig } from './raft.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, Role, Snapshot, SoftState } from './types.js';
import { isValidMessage } from './validate.js';

export type { RaftConfig } from './raft.js';

/**
 * What the driver loaded from stable storage. `conf` only matters on a first start (nothing on
 * disk): non-empty, it is the bootstrap membership (give every bootstrap member the same one),
 * which the core writes into the log as config entries 1..n of term 1 so that members added
 * later learn it; empty, this member waits to be added. On a restart the membership is the
 * snapshot's plus the config entries after it, re-applied as they are applied again, so an
 * uncommitted config entry on disk never takes effect early.
 */
export interface Restored {
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
  conf: ConfState;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  role: Role;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  progress?: Record<NodeId, { match: number; next: number }>;
}

/** A proposal, read or transfer this member cannot take now; `leader` is who might. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  readonly code = 'OD_ERR_PROPOSAL_DROPPED';
  constructor(
    reason: string,
    readonly leader: NodeId | null,
  ) {
    super(reason);
  }
}

export class RaftNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding = false;
  private readonly preVote: boolean;

  constructor(config: RaftConfig, restored: Restored) {
    checkConfig(config);
    this.preVote = config.preVote;
    const fresh = !restored.hardState && !restored.snapshot && restored.entries.length === 0;
    let log: RaftLog;
    let hard = restored.hardState ?? { term: 0, vote: null, commit: 0 };
    if (fresh && restored.conf.members.length > 0) {
      // The bootstrap membership goes into the log, so members added later learn it from there.
      const entries = bootstrapEntries(restored.conf);
      hard = { term: 1, vote: null, commit: entries.length };
      log = new RaftLog(undefined, entries, entries.length);
      log.stable = 0;
    } else {
      log = new RaftLog(restored.snapshot, restored.entries, hard.commit);
    }
    this.raft = new Raft(config, log, restored.snapshot?.meta.conf ?? { members: [] }, hard.term, hard.vote);
    this.prevSoft = this.softState();
    // A bootstrap's hard state is new: the first Ready carries it.
    this.prevHard = restored.hardState ?? { term: 0, vote: null, commit: 0 };
  }

  tick(): void {
    this.raft.tick();
  }

  /** A message from a peer; a malformed or misaddressed one is dropped. */
  step(message: Message): void {
    if (isValidMessage(message, this.raft.id)) this.raft.step(message);
  }

  /** Campaigns now, through a pre-vote round when preVote is on (so it cannot disrupt a live leader). */
  campaign(): void {
    this.raft.hup(this.preVote ? 'pre-vote' : 'election');
  }

  forgetLeader(): void {
    this.raft.forgetLeader();
  }

  propose(data: Uint8Array): void {
    if (!this.raft.propose([{ type: 'normal', data }])) throw this.dropped('proposal');
  }

  /**
   * Only on the leader, one at a time: refused while another config entry is not yet applied,
   * and when the change would leave no voter.
   */
  proposeConfChange(change: ConfChange): void {
    const raft = this.raft;
    if (raft.role !== 'leader') throw this.dropped('config change');
    const problem = confChangeProblem(raft.conf, change);
    if (problem) throw new ProposalDroppedError(`config change refused: ${problem}`, raft.leader);
    const pending = raft.log.slice(raft.log.applied + 1, raft.log.lastIndex()).some((e) => e.type === 'config');
    if (pending) throw new ProposalDroppedError('config change refused: another one is not applied yet', raft.leader);
    if (!raft.propose([{ type: 'config', data: encodeConfChange(change) }])) throw this.dropped('config change');
  }

  /**
   * The answer comes as a ReadState with this context in a later Ready: serve the read once
   * `index` is applied. No answer comes when leadership changes meanwhile: time out and retry.
   */
  readIndex(context: string): void {
    if (!this.raft.readIndex(context)) throw this.dropped('read');
  }

  transferLeadership(to: NodeId): void {
    const raft = this.raft;
    if (raft.role !== 'leader') throw this.dropped('leadership transfer');
    if (to === raft.id) return;
    if (!isVoter(raft.conf, to)) throw new ProposalDroppedError(`cannot transfer leadership to ${to}: not a voter`, raft.id);
    raft.transferLeadership(to);
  }

  /** False while a Ready is out (between ready() and advance()). */
  hasReady(): boolean {
    if (this.outstanding) return false;
    const raft = this.raft;
    return (
      !sameSoft(this.softState(), this.prevSoft) ||
      !sameHard(this.hardState(), this.prevHard) ||
      raft.log.pendingSnapshot !== undefined ||
      raft.log.stable < raft.log.lastIndex() ||
      raft.log.nextCommitted().length > 0 ||
      raft.msgs.length > 0 ||
      raft.readStates.length > 0
    );
  }

  /**
   * The next batch. Entries in `committed` are all persisted by the time the driver applies
   * them: either in an earlier Ready or in this Ready's `entries`/`hardState`, which the driver
   * persists first. Call advance() before the next ready().
   */
  ready(): Ready {
    if (this.outstanding) throw new Error('raft: ready() called again before advance()');
    const raft = this.raft;
    const rd: Ready = {
      entries: raft.log.unstableEntries(),
      committed: raft.log.nextCommitted(),
      messages: raft.msgs,
      readStates: raft.readStates,
    };
    raft.msgs = [];
    raft.readStates = [];
    const soft = this.softState();
    if (!sameSoft(soft, this.prevSoft)) rd.softState = this.prevSoft = soft;
    const hard = this.hardState();
    if (!sameHard(hard, this.prevHard)) rd.hardState = this.prevHard = hard;
    if (raft.log.pendingSnapshot) rd.snapshot = raft.log.pendingSnapshot;
    this.outstanding = true;
    return rd;
  }

  advance(ready: Ready): void {
    const log = this.raft.log;
    this.outstanding = false;
    if (ready.snapshot) log.snapshotPersisted(ready.snapshot);
    const last = ready.entries[ready.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    for (const e of ready.committed) {
      // Entries a snapshot installed meanwhile already covers must not change the membership again.
      if (e.index <= log.applied || e.index < log.firstIndex()) continue;
      if (e.type === 'config') {
        const change = decodeConfChange(e.data);
        if (change) this.raft.applyConfChange(e.index, change);
      }
      log.appliedTo(e.index);
    }
  }

  /** The driver snapshotted the state machine at `index` (applied): drop the entries it covers. */
  compact(index: number, data: Uint8Array): void {
    const raft = this.raft;
    if (index < raft.log.firstIndex()) return;
    if (index > raft.log.applied) throw new Error(`raft: cannot compact to ${index}, only ${raft.log.applied} is applied`);
    raft.compact({ meta: { index, term: raft.log.term(index)!, conf: raft.confAt(index) }, data });
  }

  status(): RaftStatus {
    const raft = this.raft;
    const status: RaftStatus = {
      id: raft.id,
      term: raft.term,
      role: raft.role,
      leader: raft.leader,
      commit: raft.log.committed,
      applied: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      conf: raft.conf,
    };
    if (raft.role === 'leader') {
      status.progress = Object.fromEntries([...raft.progress].map(([id, pr]) => [id, { match: pr.match, next: pr.next }]));
    }
    return status;
  }

  /** The snapshot this member would send (the newest it compacted to or installed). */
  snapshot(): Snapshot | undefined {
    return this.raft.log.snapshot;
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  private dropped(what: string): ProposalDroppedError {
    const raft = this.raft;
    if (raft.role === 'leader') {
      return new ProposalDroppedError(`${what} dropped: this leader is handing over leadership or leaving`, raft.id);
    }
    if (raft.leader === null) return new ProposalDroppedError(`${what} dropped: no leader`, null);
    return new ProposalDroppedError(`${what} dropped: not the leader; the leader is ${raft.leader}`, raft.leader);
  }
}

function bootstrapEntries(conf: ConfState): Entry[] {
  const members = [...conf.members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return members.map((member, i) => ({
    index: i + 1,
    term: 1,
    type: 'config',
    data: encodeConfChange({ type: 'set', member }),
  }));
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function checkConfig(c: RaftConfig): void {
  const positive = (n: number) => Number.isSafeInteger(n) && n > 0;
  if (typeof c.id !== 'string' || c.id.length === 0) throw new Error('raft config: id must be a non-empty string');
  if (!positive(c.heartbeatTicks)) throw new Error('raft config: heartbeatTicks must be a positive integer');
  if (!positive(c.electionTicks) || c.electionTicks <= c.heartbeatTicks) {
    throw new Error('raft config: electionTicks must be an integer above heartbeatTicks');
  }
  if (!positive(c.maxAppendEntries)) throw new Error('raft config: maxAppendEntries must be a positive integer');
  if (typeof c.random !== 'function') throw new Error('raft config: random must be a function');
}
