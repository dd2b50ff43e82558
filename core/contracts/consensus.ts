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
 * order give the same state on every node. It does no I/O.
 */
export interface StateMachine<State = unknown> {
  apply(state: State, command: Command, index: number): State;
  snapshot(state: State): Uint8Array;
  restore(snapshot: Uint8Array): State;
  initial(): State;
}

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

/**
 * Invariants:
 * - `propose` resolves only after the command is committed and applied locally, with its index.
 * - `read` returns state that reflects every command committed before the call (linearizable).
 * - At most one leader per term. Membership changes go through the log one at a time.
 * - `watch` listeners see every applied index in order, each once.
 * Concurrency: all methods may be called concurrently; proposals are ordered by the log.
 */
export interface Consensus<State = unknown> extends Startable {
  readonly name: string;
  propose(command: Command, signal?: AbortSignal): Promise<{ index: number }>;
  read(signal?: AbortSignal): Promise<State>;
  leader(): LeaderInfo | undefined;
  members(): Member[];
  addMember(member: Member, signal?: AbortSignal): Promise<void>;
  removeMember(id: string, signal?: AbortSignal): Promise<void>;
  /** Returns the function that stops watching. */
  watch(listener: (state: State, index: number) => void): () => void;
}
