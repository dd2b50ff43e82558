// Elections: who may lead, when votes are refused, and when a leader must give up.

import t from 'tap';
import { Mesh, conf } from './mesh.js';
import { RaftNode } from './node.js';

const config = (id: string, random = () => 0) => ({
  id,
  electionTicks: 10,
  heartbeatTicks: 1,
  maxAppendEntries: 64,
  preVote: true,
  checkQuorum: true,
  random,
});

t.test('a one-member cluster elects itself on its first election timeout', async (t) => {
  const mesh = new Mesh();
  const node = mesh.add('a', { entries: [], conf: conf(['a']) });
  mesh.tick('a', 9);
  t.equal(node.status().role, 'follower');
  mesh.tick('a');
  t.equal(node.status().role, 'leader');
  t.equal(node.status().leader, 'a');
});

t.test('the election timeout is randomized in [electionTicks, 2*electionTicks)', async (t) => {
  const mesh = new Mesh();
  const node = mesh.add('a', { entries: [], conf: conf(['a']) }, { random: () => 0.999 });
  mesh.tick('a', 18);
  t.equal(node.status().role, 'follower', 'not before 19 ticks');
  mesh.tick('a');
  t.equal(node.status().role, 'leader', 'after 19 ticks');
});

t.test('a campaign wins a majority; everyone follows the one leader of the term', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  t.same(mesh.leaders(), ['a']);
  const term = mesh.node('a').status().term;
  for (const id of ['b', 'c']) {
    t.match(mesh.node(id).status(), { role: 'follower', leader: 'a', term });
  }
  t.same(mesh.members.get('a')!.applied.at(-1)?.term, term, 'the leader committed an entry of its own term');
});

t.test('a candidate whose log is behind loses the election', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('c');
  mesh.propose('a', 'x');
  mesh.flush();
  mesh.heal();
  mesh.node('a').forgetLeader();
  mesh.node('b').forgetLeader();
  mesh.elect('c');
  t.not(mesh.node('c').status().role, 'leader');
  t.same(mesh.leaders(), ['a'], 'the leader was not deposed by a stale candidate (pre-vote)');
});

t.test('pre-votes are refused while a live leader is heard, unless the member forgot it', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  const term = mesh.node('a').status().term;
  mesh.elect('c');
  t.same(mesh.leaders(), ['a'], 'c did not win');
  t.equal(mesh.node('c').status().role, 'pre-candidate', 'c is stuck asking for pre-votes');
  t.equal(mesh.node('b').status().term, term, 'nobody moved to a new term');

  mesh.node('b').forgetLeader();
  mesh.elect('c');
  t.equal(mesh.node('c').status().role, 'leader', 'b granted the pre-vote and the vote');
  t.equal(mesh.node('a').status().role, 'follower');
});

t.test('a partitioned member does not raise its term with pre-vote, and rejoins without disruption', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  const term = mesh.node('a').status().term;
  mesh.isolate('c');
  for (let i = 0; i < 50; i++) {
    mesh.tickAll();
  }
  t.equal(mesh.node('c').status().term, term, 'pre-votes never raise the term');
  mesh.heal();
  mesh.tickAll(5);
  t.same(mesh.leaders(), ['a']);
  t.equal(mesh.node('a').status().term, term);
});

t.test('without pre-vote, a partitioned member raises its term', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c'], [], { preVote: false });
  mesh.elect('a');
  const term = mesh.node('a').status().term;
  mesh.isolate('c');
  mesh.tickAll(30);
  t.ok(mesh.node('c').status().term > term);
});

t.test('check-quorum: a leader cut off from a quorum steps down after an election timeout', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('a');
  mesh.tick('a', 10);
  t.equal(mesh.node('a').status().role, 'leader', 'a whole election timeout is allowed');
  mesh.tick('a', 10);
  t.equal(mesh.node('a').status().role, 'follower');
  t.equal(mesh.node('a').status().leader, null);
});

t.test('without check-quorum a cut-off leader stays leader', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c'], [], { checkQuorum: false });
  mesh.elect('a');
  mesh.isolate('a');
  mesh.tick('a', 40);
  t.equal(mesh.node('a').status().role, 'leader');
});

t.test('a follower that heard from its leader ignores higher-term votes (check-quorum lease)', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c'], [], { preVote: false });
  mesh.elect('a');
  const term = mesh.node('b').status().term;
  mesh.node('b').step({ type: 'vote', from: 'c', to: 'b', term: term + 5, index: 100, logTerm: 100 });
  t.equal(mesh.node('b').status().term, term, 'the vote did not move b to a new term');
  t.same(mesh.queue.filter((m) => m.from === 'b'), [], 'and got no answer');
});

t.test('non-voters and members not yet in the config never campaign', async (t) => {
  const mesh = Mesh.cluster(['a'], ['l']);
  mesh.add('j', { entries: [], conf: { members: [] } });
  mesh.tick('l', 100);
  mesh.tick('j', 100);
  t.equal(mesh.node('l').status().role, 'follower');
  t.equal(mesh.node('j').status().role, 'follower');
  t.equal(mesh.node('j').status().term, 0);
  t.same(mesh.queue, [], 'not even a pre-vote went out');
});

t.test('malformed or misaddressed peer messages are dropped without throwing', async (t) => {
  const node = new RaftNode(config('a'), { entries: [], conf: conf(['a', 'b', 'c']) });
  const bad: unknown[] = [
    null,
    'hello',
    { type: 'append', from: 'b', to: 'a', term: 2 },
    { type: 'append', from: 'b', to: 'a', term: 2, index: 0, logTerm: 0, commit: 0, entries: [{ index: 5, term: 1 }] },
    { type: 'append', from: 'b', to: 'a', term: 2, index: 0, logTerm: 0, commit: 0, entries: [{ index: 2, term: 1, type: 'normal', data: new Uint8Array() }] },
    { type: 'append', from: 'b', to: 'a', term: 2, index: 0, logTerm: 0, commit: 0, entries: [{ index: 1, term: 9, type: 'normal', data: new Uint8Array() }] },
    { type: 'vote', from: 'b', to: 'z', term: 9, index: 0, logTerm: 0 },
    { type: 'vote', from: 'b', to: 'a', term: -1, index: 0, logTerm: 0 },
    { type: 'snapshot', from: 'b', to: 'a', term: 3, snapshot: { meta: { index: 4 }, data: 'x' } },
    { type: 'nonsense', from: 'b', to: 'a', term: 3 },
    { type: 'heartbeat', from: 'b', to: 'a', term: 1.5, commit: 0 },
  ];
  while (node.hasReady()) node.advance(node.ready());
  const before = node.status();
  for (const m of bad) t.doesNotThrow(() => node.step(m as never));
  t.same(node.status(), before, 'nothing changed');
  t.notOk(node.hasReady());
});
