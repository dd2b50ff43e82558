// The Raft log as the core sees it: a snapshot offset, the entries after it (persisted ones and
// the unstable tail not yet handed to the driver), and the commit and apply cursors.

import type { Entry, Snapshot } from './types.js';

export class RaftLog {
  /** The newest snapshot this member holds: what a follower behind firstIndex() is sent. */
  snapshot: Snapshot | undefined;
  /** A snapshot received from the leader that the driver has not persisted yet. */
  pendingSnapshot: Snapshot | undefined;
  committed: number;
  applied: number;
  /** The last index the driver has persisted; entries after it are unstable. */
  stable: number;
  private offset: number;
  private offsetTerm: number;
  private entries: Entry[];

  constructor(snapshot: Snapshot | undefined, entries: Entry[], commit: number) {
    this.snapshot = snapshot;
    this.offset = snapshot?.meta.index ?? 0;
    this.offsetTerm = snapshot?.meta.term ?? 0;
    this.entries = entries.filter((e) => e.index > this.offset);
    this.entries.forEach((e, i) => {
      if (e.index !== this.offset + 1 + i) throw new Error(`restored raft log is not contiguous at index ${e.index}`);
    });
    this.stable = this.lastIndex();
    this.applied = this.offset;
    this.committed = Math.min(Math.max(commit, this.offset), this.lastIndex());
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term of entry `index`, or undefined when it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The largest index <= `index` whose term is <= `term`: where a follower's log may match. */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); ; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
  }

  /**
   * A follower's append: if the entry before `entries` matches, drop our conflicting suffix,
   * append what is new and return the last index the leader's message vouches for.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = entries.find((e) => !this.matchTerm(e.index, e.term));
    if (conflict) {
      // A correct leader never contradicts a committed entry; refuse rather than lose it.
      if (conflict.index <= this.committed) return undefined;
      this.append(entries.slice(conflict.index - index - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries that start at most one past the end, replacing whatever they overlap. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first <= this.committed) throw new Error(`raft log: refusing to overwrite committed entry ${first}`);
    if (first > this.lastIndex() + 1) throw new Error(`raft log: gap before entry ${first}`);
    this.entries.length = first - this.offset - 1;
    this.entries.push(...entries);
    this.stable = Math.min(this.stable, first - 1);
  }

  /** Entries [lo, hi], at most `max` of them. */
  slice(lo: number, hi: number, max = Infinity): Entry[] {
    const from = Math.max(lo, this.firstIndex()) - this.offset - 1;
    const to = Math.min(hi, this.lastIndex(), lo + max - 1) - this.offset;
    return from < to ? this.entries.slice(from, to) : [];
  }

  unstableEntries(): Entry[] {
    return this.slice(this.stable + 1, this.lastIndex());
  }

  /** Committed entries not yet applied; none while a received snapshot waits to be installed. */
  nextCommitted(): Entry[] {
    if (this.pendingSnapshot) return [];
    return this.slice(this.applied + 1, this.committed);
  }

  commitTo(index: number): boolean {
    const target = Math.min(index, this.lastIndex());
    if (target <= this.committed) return false;
    this.committed = target;
    return true;
  }

  /** Commits `index` if it holds an entry of `term`: only current-term entries commit by counting. */
  maybeCommit(index: number, term: number): boolean {
    return this.term(index) === term && this.commitTo(index);
  }

  stableTo(index: number, term: number): void {
    if (this.matchTerm(index, term)) this.stable = Math.max(this.stable, index);
  }

  appliedTo(index: number): void {
    this.applied = Math.max(this.applied, index);
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.pendingSnapshot = snapshot;
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.entries = [];
    this.committed = snapshot.meta.index;
    this.stable = snapshot.meta.index;
  }

  snapshotPersisted(snapshot: Snapshot): void {
    if (this.pendingSnapshot === snapshot) this.pendingSnapshot = undefined;
    this.appliedTo(snapshot.meta.index);
  }

  /** The driver snapshotted the state machine at `snapshot.meta.index`: drop the entries it covers. */
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = snapshot.meta.term;
    this.snapshot = snapshot;
  }
}
