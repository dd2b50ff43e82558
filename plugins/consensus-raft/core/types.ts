// The vocabulary of the pure Raft core, shared with its drivers (storage, transport, codec).
// Everything here is plain data: the core does no I/O and reads no clock.

export type NodeId = string;

export type EntryType = 'normal' | 'config';

/** `data` is the application's command for 'normal', an encoded ConfChange for 'config'. */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must reach stable storage before any message of the same Ready is sent. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface ConfMember {
  id: NodeId;
  /** Opaque to the core: where the driver reaches this member. */
  address: string;
  voter: boolean;
}

export interface ConfState {
  members: ConfMember[];
}

/** One server at a time: add (voter or not), change its vote, or remove it. */
export type ConfChange = { type: 'set'; member: ConfMember } | { type: 'remove'; id: NodeId };

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Every message type; a type's place in this list is its code on the wire. */
export const MESSAGE_TYPES = [
  'propose',
  'pre-vote',
  'pre-vote-resp',
  'vote',
  'vote-resp',
  'append',
  'append-resp',
  'heartbeat',
  'heartbeat-resp',
  'snapshot',
  'read-index',
  'read-index-resp',
  'timeout-now',
] as const;

export type MessageType = (typeof MESSAGE_TYPES)[number];

/**
 * A message between members. Fields beyond type/from/to/term are set by the types that use
 * them: `index`/`logTerm` (the entry before `entries`, or the candidate's last entry), `commit`,
 * `reject` and `rejectHint` (where the follower's log may match: at most its last index, with
 * `logTerm` the term it holds there, so the leader skips a whole conflicting term at once),
 * `context` (a read request's id, a heartbeat's read round, or 'transfer' on the votes of a
 * leadership transfer). 'propose' and 'read-index' are forwarded with term 0: they never
 * change anyone's term.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  index?: number;
  logTerm?: number;
  commit?: number;
  entries?: Entry[];
  reject?: boolean;
  rejectHint?: number;
  snapshot?: Snapshot;
  context?: string;
}

/** A linearizable read may be served once the local state has applied `index`. */
export interface ReadState {
  index: number;
  context: string;
}

export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/**
 * A batch of work the driver does, in this order: persist `snapshot` (if any), `entries` and
 * `hardState` (fsync), then send `messages`, apply `committed` to the state machine, serve
 * `readStates`, then call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  committed: Entry[];
  messages: Message[];
  readStates: ReadState[];
}
