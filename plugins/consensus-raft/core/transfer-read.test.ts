// Leadership transfer and linearizable reads (read-index).

import t from 'tap';
import { Mesh } from './mesh.js';

const dropped = { name: 'ProposalDroppedError', code: 'OD_ERR_PROPOSAL_DROPPED' };

t.test('leadership transfer catches the target up, then it wins at once, past leases', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('b');
  mesh.propose('a', 'x');
  mesh.flush();
  mesh.heal();
  mesh.node('a').transferLeadership('b');
  mesh.drain('a');
  mesh.flush();
  t.same(mesh.leaders(), ['b']);
  t.equal(mesh.node('c').status().leader, 'b');
  t.same(mesh.appliedData('b'), ['x'], 'b was caught up first');
});

t.test('a transfer refuses proposals meanwhile and aborts after an election timeout', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c'], [], { checkQuorum: false });
  mesh.elect('a');
  mesh.isolate('b');
  mesh.node('a').transferLeadership('b');
  mesh.drain('a');
  t.throws(() => mesh.propose('a', 'x'), dropped);
  mesh.tickAll(10);
  t.same(mesh.leaders(), ['a']);
  t.doesNotThrow(() => mesh.propose('a', 'x'), 'accepting proposals again');
  t.throws(() => mesh.node('a').transferLeadership('zz'), /not a voter/);
  t.throws(() => mesh.node('b').transferLeadership('a'), dropped, 'only a leader transfers');
});

t.test('read-index on the leader waits for a heartbeat round of a quorum', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.propose('a', 'x');
  mesh.flush();
  const commit = mesh.node('a').status().commit;
  mesh.node('a').readIndex('r1');
  mesh.drain('a');
  t.same(mesh.members.get('a')!.readStates, [], 'not before the quorum answered');
  mesh.flush();
  t.same(mesh.members.get('a')!.readStates, [{ index: commit, context: 'r1' }]);
});

t.test('a leader cut off from the quorum answers no read', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.isolate('a');
  mesh.node('a').readIndex('r1');
  mesh.drain('a');
  mesh.flush();
  mesh.tick('a', 5);
  mesh.flush();
  t.same(mesh.members.get('a')!.readStates, []);
});

t.test('a follower forwards the read and gets the leader’s commit index', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.propose('a', 'x');
  mesh.flush();
  mesh.node('c').readIndex('r2');
  mesh.drain('c');
  mesh.flush();
  t.same(mesh.members.get('c')!.readStates, [{ index: mesh.node('a').status().commit, context: 'r2' }]);
});

t.test('a new leader serves no read before an entry of its term commits', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.pass = (m) => m.type !== 'append-resp';
  mesh.elect('a');
  t.equal(mesh.node('a').status().role, 'leader');
  t.throws(() => mesh.node('a').readIndex('r'), dropped);
  mesh.heal();
  mesh.tickAll(2);
  t.doesNotThrow(() => mesh.node('a').readIndex('r'));
});

t.test('a single voter answers reads at once; reads without a leader are refused', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  t.throws(() => mesh.node('b').readIndex('r'), { ...dropped, leader: null });
  t.throws(() => mesh.propose('b', 'x'), dropped);
  const solo = Mesh.cluster(['s']);
  solo.tick('s', 10);
  solo.node('s').readIndex('r');
  solo.drain('s');
  t.same(solo.members.get('s')!.readStates, [{ index: solo.node('s').status().commit, context: 'r' }]);
});

t.test('a follower forwards proposals to the leader', async (t) => {
  const mesh = Mesh.cluster(['a', 'b', 'c']);
  mesh.elect('a');
  mesh.propose('c', 'via-c');
  mesh.flush();
  t.same(mesh.appliedData('a'), ['via-c']);
  t.same(mesh.appliedData('c'), ['via-c']);
});
