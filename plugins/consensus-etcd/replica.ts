// This member's copy of the replicated state: the state machine's state, the members, and the
// revision of the last log entry applied. Pure: the etcd driver feeds it entries in revision order.

import type { Member, StateMachine } from '../../core/contracts/consensus.js';
import type { LogEntry } from './log-entry.js';
import type { StoredSnapshot } from './stored-snapshot.js';

export type Outcome = { ok: true; result: unknown } | { ok: false; error: Error };

export class Replica<State> {
  state: State;
  index = 0;
  members: Member[] = [];

  constructor(private readonly machine: StateMachine<State>) {
    this.state = machine.initial();
  }

  /** Applies `entry` at `revision` (greater than `index`); membership changes stay here. */
  apply(entry: LogEntry, revision: number): Outcome {
    this.index = revision;
    switch (entry.op) {
      case 'command':
        try {
          const { state, result } = this.machine.apply(this.state, entry.command, revision);
          this.state = state;
          return { ok: true, result };
        } catch (error) {
          // The contract forbids throwing; when a machine does anyway, every member skips the same command.
          return { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
        }
      case 'member-set':
        this.members = [...this.members.filter((m) => m.id !== entry.member.id), { ...entry.member }].sort(byId);
        return { ok: true, result: undefined };
      case 'member-remove':
        this.members = this.members.filter((m) => m.id !== entry.memberId);
        return { ok: true, result: undefined };
    }
  }

  /** An entry that is not one still takes its revision, so reads waiting on it end. */
  skip(revision: number): void {
    this.index = revision;
  }

  snapshot(): StoredSnapshot {
    return { revision: this.index, members: this.members.map((m) => ({ ...m })), data: this.machine.snapshot(this.state) };
  }

  restore(snapshot: StoredSnapshot): void {
    this.state = this.machine.restore(snapshot.data);
    this.members = snapshot.members.map((m) => ({ ...m })).sort(byId);
    this.index = snapshot.revision;
  }
}

function byId(a: Member, b: Member): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
