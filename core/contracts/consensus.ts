// The consensus contract: a replicated log applied to a deterministic state machine, cut along
// the seams of hashicorp/raft (state machine, log and stable stores, snapshots, transport).
// Implementations: plugins/consensus-raft (built in), plugins/consensus-etcd (external etcd).

import type { Startable } from './plugin.js';

/** A command proposed to the log; the state machine gives it meaning. */
export interface Command {
  type: string;
  payload: unknown;
}

/**
 * The replicated state machine. `apply` must be deterministic: the same commands in the same
 * order give the same state and results on every node. It does no I/O and must not throw: a
 * command it refuses is a result that says so.
 */
export interface StateMachine<State = unknown> {
  initial(): State;
  apply(state: State, command: Command, index: number): { state: State; result: unknown };
  snapshot(state: State): Uint8Array;
  restore(snapshot: Uint8Array): State;
}

export type MemberRole = 'voter' | 'non-voter';

export interface Member {
  id: string;
  /** Where the consensus peer listens (e.g. 10.0.0.2:7000, or an etcd endpoint). */
  address: string;
  voter: boolean;
}

export interface LeaderInfo {
  id: string;
  term: number;
}

export class NotLeaderError extends Error {
  readonly code = 'OD_ERR_NOT_LEADER';
  constructor(readonly leader: LeaderInfo | undefined) {
    super(leader ? `not the leader; the leader is ${leader.id}` : 'no leader elected');
  }
}

/** The leader changed while a proposal was under way and it has not been applied since: it may yet be, or never. */
export class ProposalOutcomeUnknownError extends Error {
  readonly code = 'OD_ERR_PROPOSAL_UNKNOWN';
  constructor() {
    super('the consensus leader changed while the proposal was under way; it may or may not be applied');
  }
}

/** A cluster formed elsewhere spoke to this member, or this member to it: never merged. */
export class ClusterMismatchError extends Error {
  readonly code = 'OD_ERR_CLUSTER_MISMATCH';
  constructor(
    readonly ours: string,
    readonly theirs: string,
  ) {
    super(`consensus peer belongs to cluster ${theirs}, this node to ${ours}; refusing to merge them`);
  }
}

export type ConsensusEvent =
  | { type: 'applied'; index: number }
  | { type: 'leader'; leader: LeaderInfo | undefined }
  | { type: 'members'; members: Member[] }
  | { type: 'snapshot'; index: number };

/** What every backend is built from besides its own config. */
export interface ConsensusComponents<State = unknown> {
  stateMachine: StateMachine<State>;
  nodeId: string;
  dataDir: string;
  logger: import('pino').Logger;
}

/**
 * Invariants:
 * - `propose` resolves only after the command is committed and applied locally, with its index
 *   and the state machine's result; it may be called on any member (a follower forwards it).
 * - `read` returns state that reflects every command committed before the call (linearizable);
 *   `state` returns this member's applied state at once, possibly stale.
 * - At most one leader per term. Membership changes go through the log one at a time.
 * - `watch` listeners see every applied index in order, each once, and every leader change.
 * - A member never joins or merges with another cluster's id.
 * Concurrency: all methods may be called concurrently; proposals are ordered by the log.
 */
export interface Consensus<State = unknown> extends Startable {
  readonly name: string;
  /** Fixed when the cluster forms; undefined until this member has joined one. */
  clusterId(): string | undefined;
  /**
   * Where peers reach this member (host:port) when the backend's members talk to each other
   * (raft): the node announces it, and the leader adds nodes it hears of. Undefined when the
   * backend keeps its own membership (etcd).
   */
  address(): string | undefined;
  propose(command: Command, signal?: AbortSignal): Promise<{ index: number; result: unknown }>;
  read(signal?: AbortSignal): Promise<State>;
  state(): { state: State; index: number };
  leader(): LeaderInfo | undefined;
  members(): Member[];
  /** Adds a member (a non-voter when `voter` is false) or changes an existing one's vote. */
  addMember(member: Member, signal?: AbortSignal): Promise<void>;
  removeMember(id: string, signal?: AbortSignal): Promise<void>;
  /** On the leader: hands leadership to an up-to-date voter before a clean stop. */
  transferLeadership(signal?: AbortSignal): Promise<void>;
  /** Returns the function that stops watching. */
  watch(listener: (event: ConsensusEvent, state: State) => void): () => void;
}
