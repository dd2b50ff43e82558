// Membership: non-voters replicate without counting, changes go one at a time and take effect
// when applied, new members join from nothing, and a removed leader leaves cleanly.

import t from 'tap';
import { conf, Mesh } from './mesh.js';

const member = (id: string, voter = true) => ({ id, address: `mesh:${id}`, voter });
const dropped = { name: 'ProposalDroppedError', code: 'OD_ERR_PROPOSAL_DROPPED' };
const ids = (mesh: Mesh, id: string) => mesh.node(id).status().conf.members.map((m) => `${m.id}${m.voter ? '' : '~'}`).sort();

t.test('a non-voter receives the log but does not count for the quorum', async (t) => {
  const mesh = Mesh.cluster(['a', 'b'], ['l']);
  mesh.elect('a');
  mesh.propose('a', 'one');
  mesh.flush();
  t.same(mesh.appliedData('l'), ['one'], 'the non-voter applied the entry');
  const commit = mesh.node('a').status().commit;
  mesh.isolate('b');
  mesh.propose('a', 'two');
  mesh.flush();
  t.equal(mesh.node('a').status().commit, commit, 'a and the non-voter are no majority of {a, b}');
  t.equal(mesh.node('a').status().progress!.l!.match, commit + 1, 'though the non-voter has the entry');
});

t.test('config changes go one at a time and take effect when applied', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('a');
  mesh.node('a').proposeConfChange({ type: 'remove', id: 'c' });
  mesh.drain('a');
  t.throws(() => mesh.node('a').proposeConfChange({ type: 'remove', id: 'b' }), dropped, 'a second one waits');
  t.same(ids(mesh, 'a'), ['a', 'b', 'c'], 'an uncommitted change has no effect');
  mesh.heal();
  mesh.flush();
  t.same(ids(mesh, 'a'), ['a', 'b'], 'applied on the leader');
  mesh.tickAll(2);
  t.same(ids(mesh, 'b'), ['a', 'b'], 'and on the follower');
  t.doesNotThrow(() => mesh.node('a').proposeConfChange({ type: 'set', member: member('c', false) }));
  mesh.drain('a');
  mesh.flush();
  t.same(ids(mesh, 'a'), ['a', 'b', 'c~'], 'c is back as a non-voter');
});

t.test('changes that would leave no voter, or name no member, are refused', async (t) => {
  const mesh = Mesh.cluster(['a'], ['l']);
  mesh.tick('a', 10);
  t.throws(() => mesh.node('a').proposeConfChange({ type: 'remove', id: 'a' }), /no voter/);
  t.throws(() => mesh.node('a').proposeConfChange({ type: 'set', member: member('a', false) }), /no voter/);
  t.throws(() => mesh.node('a').proposeConfChange({ type: 'remove', id: 'zz' }), /not a member/);
  t.throws(() => mesh.node('l').proposeConfChange({ type: 'remove', id: 'l' }), dropped, 'only on the leader');
});

t.test('a new member starts empty, catches up without campaigning, then votes', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.propose('a', 'before');
  mesh.flush();
  const j = mesh.add('j', { entries: [], conf: { members: [] } });
  mesh.node('a').proposeConfChange({ type: 'set', member: member('j') });
  mesh.drain('a');
  mesh.tickAll(3);
  t.same(mesh.appliedData('j'), ['before'], 'j got the log from the start');
  t.same(ids(mesh, 'j'), ['a', 'b', 'c', 'j'], 'including the bootstrap membership');
  t.equal(j.status().leader, 'a');
  mesh.isolate('a');
  mesh.node('j').forgetLeader();
  mesh.node('b').forgetLeader();
  mesh.node('c').forgetLeader();
  mesh.elect('j');
  t.equal(j.status().role, 'leader', 'j can now be elected by the others');
});

t.test('a removed leader hands over and steps down, and never campaigns again', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.node('a').proposeConfChange({ type: 'remove', id: 'a' });
  mesh.drain('a');
  t.throws(() => mesh.propose('a', 'late'), dropped, 'nothing is appended after its removal');
  mesh.flush();
  mesh.tickAll(3);
  const leaders = mesh.leaders();
  t.equal(leaders.length, 1);
  t.not(leaders[0], 'a', 'a new leader among the remaining voters');
  t.equal(mesh.node('a').status().role, 'follower');
  t.same(ids(mesh, leaders[0]!), ['b', 'c']);
  mesh.isolate('a');
  mesh.tick('a', 100);
  t.equal(mesh.node('a').status().role, 'follower', 'a never campaigns');
});

t.test('a removed leader cut off from the others steps down after an election timeout', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c'], [], { checkQuorum: false });
  mesh.elect('a');
  mesh.node('a').proposeConfChange({ type: 'remove', id: 'a' });
  mesh.drain('a');
  mesh.pass = (m) => m.type !== 'timeout-now';
  mesh.flush();
  t.same(ids(mesh, 'a'), ['b', 'c']);
  t.equal(mesh.node('a').status().role, 'leader', 'still leading while it hands over');
  mesh.isolate('a');
  mesh.tick('a', 10);
  t.equal(mesh.node('a').status().role, 'follower');
});

t.test('the bootstrap membership is written to the log', async (t) => {
  const mesh = Mesh.cluster(['b', 'a']);
  const entries = mesh.members.get('a')!.disk.entries;
  t.same(entries.map((e) => `${e.index}:${e.term}:${e.type}`), ['1:1:config', '2:1:config'], 'same order on every member');
  t.same(mesh.members.get('a')!.disk.hardState, { term: 1, vote: null, commit: 2 });
  t.same(ids(mesh, 'a'), ['a', 'b']);
  t.same(mesh.node('a').status().conf, mesh.node('b').status().conf);
  t.same(conf(['a', 'b']).members.length, 2);
});
