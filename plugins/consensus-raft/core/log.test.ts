// The in-memory log: offsets, conflicts, commit rules, unstable tail, snapshots.

import t from 'tap';
import { RaftLog } from './log.js';
import { committedIndex, voteResult } from './quorum.js';
import type { Entry, Snapshot } from './types.js';

const e = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array() });
const terms = (log: RaftLog) => log.slice(log.firstIndex(), log.lastIndex()).map((x) => x.term);
const snap = (index: number, term: number): Snapshot => ({ meta: { index, term, conf: { members: [] } }, data: new Uint8Array() });

t.test('maybeAppend keeps matching entries, replaces the conflicting suffix, refuses a gap', async (t) => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 1), e(3, 2), e(4, 2)], 1);
  t.equal(log.maybeAppend(5, 2, 0, [e(6, 2)]), undefined, 'no entry 5: refused');
  t.equal(log.maybeAppend(2, 1, 3, [e(3, 2), e(4, 2)]), 4, 'all present: nothing changes');
  t.same(terms(log), [1, 1, 2, 2]);
  t.equal(log.committed, 3, 'commit moves to min(leader commit, last new)');
  t.equal(log.maybeAppend(3, 2, 9, [e(4, 3), e(5, 3)]), 5);
  t.same(terms(log), [1, 1, 2, 3, 3]);
  t.equal(log.committed, 5);
  t.equal(log.stable, 3, 'the replaced tail is unstable again');
  t.same(log.unstableEntries().map((x) => x.index), [4, 5]);
  t.equal(log.maybeAppend(1, 1, 5, [e(2, 9)]), undefined, 'a conflict with a committed entry is refused');
  t.same(terms(log), [1, 1, 2, 3, 3]);
});

t.test('only an entry of the current term commits by counting', async (t) => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 2), e(3, 3)], 0);
  t.notOk(log.maybeCommit(2, 3));
  t.equal(log.committed, 0);
  t.ok(log.maybeCommit(3, 3));
  t.equal(log.committed, 3);
});

t.test('findConflictByTerm skips back over entries of later terms', async (t) => {
  const log = new RaftLog(undefined, [e(1, 1), e(2, 1), e(3, 4), e(4, 4), e(5, 4)], 0);
  t.same(log.findConflictByTerm(5, 2), { index: 2, term: 1 });
  t.same(log.findConflictByTerm(5, 4), { index: 5, term: 4 });
  t.same(log.findConflictByTerm(9, 4), { index: 5, term: 4 }, 'beyond the end starts at the end');
});

t.test('a snapshot sets the offset; compaction drops what it covers', async (t) => {
  const log = new RaftLog(snap(10, 3), [e(9, 3), e(11, 3), e(12, 4)], 12);
  t.equal(log.firstIndex(), 11);
  t.equal(log.term(10), 3);
  t.equal(log.term(9), undefined, 'compacted');
  t.equal(log.applied, 10);
  log.appliedTo(12);
  log.compact(snap(11, 3));
  t.equal(log.firstIndex(), 12);
  t.same(terms(log), [4]);
  log.restore(snap(20, 5));
  t.equal(log.lastIndex(), 20);
  t.equal(log.committed, 20);
  t.same(log.nextCommitted(), [], 'nothing to apply before the snapshot is installed');
  t.throws(() => new RaftLog(undefined, [e(1, 1), e(3, 1)], 0), /not contiguous/);
});

t.test('quorums count voters only', async (t) => {
  const match: Record<string, number> = { a: 5, b: 3, c: 1, l: 9 };
  t.equal(committedIndex(['a', 'b', 'c'], (id) => match[id]!), 3);
  t.equal(committedIndex(['a', 'b'], (id) => match[id]!), 3);
  t.equal(voteResult(['a', 'b', 'c'], new Map([['a', true], ['l', true]])), 'pending');
  t.equal(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', true]])), 'won');
  t.equal(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', false], ['c', false]])), 'lost');
});
