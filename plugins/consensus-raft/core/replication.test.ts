// Replication: conflicting suffixes are overwritten, only current-term entries commit by
// counting, far-behind followers get a snapshot, appends are capped and backtrack fast.

import t from 'tap';
import { bytes, conf, Mesh } from './mesh.js';
import { encodeConfChange } from './conf.js';
import type { Entry, Message } from './types.js';

const entry = (index: number, term: number, data = ''): Entry => ({ index, term, type: 'normal', data: bytes(data) });
const bootstrap = (ids: string[]): Entry[] =>
  [...ids].sort().map((id, i) => ({
    index: i + 1,
    term: 1,
    type: 'config',
    data: encodeConfChange({ type: 'set', member: { id, address: `mesh:${id}`, voter: true } }),
  }));

t.test('a follower’s conflicting uncommitted suffix is replaced by the new leader’s log', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('a');
  for (const x of ['lost1', 'lost2', 'lost3']) mesh.propose('a', x);
  mesh.flush();
  mesh.node('b').forgetLeader();
  mesh.node('c').forgetLeader();
  mesh.elect('b');
  t.same(mesh.leaders().sort(), ['a', 'b']);
  mesh.propose('b', 'kept');
  mesh.flush();
  mesh.heal();
  mesh.tickAll(3);
  t.same(mesh.leaders(), ['b'], 'a stepped down on seeing the newer term');
  const log = (id: string) => mesh.members.get(id)!.disk.entries.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`);
  t.same(log('a'), log('b'), 'a’s log now equals the leader’s');
  t.notOk(log('a').some((e) => e.includes('lost')), 'the entries only a had are gone');
  t.same(mesh.appliedData('a'), ['kept']);
});

t.test('figure 8: an old-term entry on a majority does not commit until an entry of the current term does', async (t) => {
  // a and b hold index 4 from term 2 (never committed); a becomes leader of term 3.
  const ids = ['a', 'b', 'c'];
  const mesh = new Mesh();
  const oldLog = [...bootstrap(ids), entry(4, 2, 'old')];
  mesh.add('a', { hardState: { term: 2, vote: null, commit: 3 }, entries: oldLog, conf: conf(ids) });
  mesh.add('b', { hardState: { term: 2, vote: null, commit: 3 }, entries: oldLog, conf: conf(ids) });
  mesh.add('c', { hardState: { term: 2, vote: null, commit: 3 }, entries: bootstrap(ids), conf: conf(ids) });
  // Only votes get through: the new leader's appends wait.
  mesh.pass = (m) => m.type.includes('vote');
  mesh.elect('a');
  t.equal(mesh.node('a').status().role, 'leader');
  const term = mesh.node('a').status().term;
  t.equal(term, 3);
  const ack = (index: number): Message => ({ type: 'append-resp', from: 'b', to: 'a', term, index });
  mesh.node('a').step(ack(4));
  mesh.drain('a');
  t.equal(mesh.node('a').status().commit, 3, 'index 4 (term 2) is on a majority but not committed');
  mesh.node('a').step(ack(5));
  mesh.drain('a');
  t.equal(mesh.node('a').status().commit, 5, 'committing the term-3 entry at 5 commits 4 with it');
  t.same(mesh.appliedData('a'), ['old']);
});

t.test('a follower behind the leader’s first index catches up from a snapshot', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('c');
  for (let i = 0; i < 10; i++) mesh.propose('a', `v${i}`);
  mesh.flush();
  const applied = mesh.node('a').status().applied;
  mesh.node('a').compact(applied, bytes('state-at-' + applied));
  t.equal(mesh.node('a').snapshot()?.meta.index, applied);
  mesh.heal();
  mesh.tickAll(3);
  const c = mesh.members.get('c')!;
  t.equal(c.installed.length, 1, 'c was handed one snapshot to install');
  t.equal(c.installed[0]!.meta.index, applied);
  t.equal(new TextDecoder().decode(c.installed[0]!.data), 'state-at-' + applied);
  t.same(c.installed[0]!.meta.conf.members.map((m) => m.id).sort(), ['a', 'b', 'c'], 'the snapshot carries the membership');
  mesh.propose('a', 'after');
  mesh.tickAll(3);
  t.same(mesh.appliedData('c'), ['after'], 'c applies what follows the snapshot, not what it covers');
  t.match(mesh.node('c').status(), { applied: mesh.node('a').status().applied, commit: mesh.node('a').status().commit });
});

t.test('appends carry at most maxAppendEntries entries', async (t) => {
  const mesh = Mesh.cluster(['a', 'b'], [], { maxAppendEntries: 2 });
  mesh.elect('a');
  mesh.isolate('b');
  for (let i = 0; i < 7; i++) mesh.propose('a', `v${i}`);
  mesh.flush();
  mesh.heal();
  const sizes: number[] = [];
  mesh.pass = (m) => {
    if (m.type === 'append') sizes.push(m.entries?.length ?? 0);
    return true;
  };
  mesh.tickAll(3);
  t.ok(sizes.length > 0);
  t.ok(Math.max(...sizes) <= 2, `sizes ${sizes}`);
  t.same(mesh.appliedData('b').length, 7);
});

t.test('a rejected append backtracks by term, not one entry at a time', async (t) => {
  // b has 30 entries of term 2 that a never had; a leads term 4 with a log of term 3.
  const ids = ['a', 'b', 'c'];
  const boot = bootstrap(ids);
  const bLog = [...boot, ...Array.from({ length: 30 }, (_, i) => entry(4 + i, 2, 'stale'))];
  const aLog = [...boot, ...Array.from({ length: 5 }, (_, i) => entry(4 + i, 3, 'good'))];
  const mesh = new Mesh();
  mesh.add('a', { hardState: { term: 3, vote: null, commit: 3 }, entries: aLog, conf: conf(ids) });
  mesh.add('b', { hardState: { term: 3, vote: null, commit: 3 }, entries: bLog, conf: conf(ids) });
  mesh.add('c', { hardState: { term: 3, vote: null, commit: 3 }, entries: aLog, conf: conf(ids) });
  let rejects = 0;
  mesh.pass = (m) => {
    if (m.type === 'append-resp' && m.reject) rejects++;
    return true;
  };
  mesh.elect('a');
  mesh.tickAll(3);
  t.ok(rejects > 0 && rejects <= 2, `${rejects} rejections for 30 conflicting entries`);
  t.same(mesh.members.get('b')!.disk.entries.map((e) => e.term), mesh.members.get('a')!.disk.entries.map((e) => e.term));
});

t.test('Ready hands out a committed entry only once persisted: in an earlier Ready or in the same one', async (t) => {
  const mesh = Mesh.cluster(['a']);
  mesh.tick('a', 10);
  const node = mesh.node('a');
  node.propose(bytes('x'));
  const rd = node.ready();
  const persisted = new Set(rd.entries.map((e) => e.index));
  t.ok(rd.committed.length > 0, 'a single voter commits at once');
  for (const e of rd.committed) t.ok(persisted.has(e.index), `entry ${e.index} is in the same Ready's entries`);
  t.ok(rd.hardState && rd.hardState.commit >= rd.committed.at(-1)!.index, 'and the hard state commits it');
  t.throws(() => node.ready(), 'a second ready() before advance() is refused');
  node.advance(rd);
  t.notOk(node.hasReady());
});

t.test('a follower answers a snapshot with its commit index, never its unverified tail', async (t) => {
  const ids = ['a', 'b', 'c'];
  const mesh = new Mesh();
  const tail = [...bootstrap(ids), entry(4, 2, 'maybe'), entry(5, 2, 'maybe')];
  mesh.add('b', { hardState: { term: 2, vote: null, commit: 3 }, entries: tail, conf: conf(ids) });
  const snapshot = { meta: { index: 3, term: 1, conf: conf(ids) }, data: bytes('s') };
  mesh.node('b').step({ type: 'snapshot', from: 'a', to: 'b', term: 3, snapshot });
  mesh.drain('b');
  t.match(mesh.queue, [{ type: 'append-resp', to: 'a', index: 3 }]);
  t.equal(mesh.queue[0]!.reject, undefined);
});
