// The simulator itself: a crash loses what the driver had not persisted, and the client
// history records invocations, outcomes and unknown outcomes.

import t from 'tap';
import { SimCluster } from './sim-network.js';
import { staleRead } from './fuzz-schedule.js';

t.test('a three-member cluster serves puts and gets, recorded as a history', async (t) => {
  const c = new SimCluster({ seed: 7, voters: ['a', 'b', 'c'] });
  c.run(40);
  const leader = c.leader();
  t.ok(leader);
  t.ok(c.put(1, 'b', 'x', '1'));
  c.run(10);
  t.ok(c.get(2, 'c', 'x'));
  c.run(10);
  t.match(c.history, [
    { clientId: 1, kind: 'put', key: 'x', value: '1' },
    { clientId: 2, kind: 'get', key: 'x', output: '1' },
  ]);
  for (const ev of c.history) t.ok(ev.return >= ev.call && ev.return < Infinity);
  t.same(c.kv('a'), { x: '1' });
  t.equal(staleRead(c.history), undefined);
});

t.test('an operation on a member that crashes has an unknown outcome', async (t) => {
  const c = new SimCluster({ seed: 7, voters: ['a', 'b', 'c'] });
  c.run(40);
  const follower = ['a', 'b', 'c'].find((id) => id !== c.leader())!;
  c.partition([[follower], ['a', 'b', 'c'].filter((id) => id !== follower)]);
  c.put(1, follower, 'x', '1');
  c.crash(follower);
  t.equal(c.history[0]!.return, Infinity);
  t.notOk(c.busy(1));
});

t.test('a crash loses the Ready the driver had not handled; a restart resumes from disk', async (t) => {
  const c = new SimCluster({ seed: 3, voters: ['a'], readyRate: 0 });
  c.run(20);
  t.equal(c.leader(), undefined, 'the bootstrap membership takes effect only once applied');
  t.same(c.members.get('a')!.disk, { entries: [] }, 'the driver persisted nothing');
  c.crash('a');
  c.restart('a');
  t.same(c.members.get('a')!.disk, { entries: [] }, 'nothing survived: the restarted node bootstraps again');
  c.handleReady(c.members.get('a')!);
  c.crash('a');
  c.restart('a');
  t.match(c.members.get('a')!.disk, { hardState: { term: 1, commit: 1 }, entries: [{ index: 1, type: 'config' }] });
  t.match(c.node('a').status(), { term: 1, lastIndex: 1, commit: 1 }, 'the restart resumed from the persisted bootstrap');
});

t.test('staleRead finds a read that missed a completed write', async (t) => {
  t.match(
    staleRead([
      { clientId: 1, kind: 'put', key: 'x', value: '1', call: 0, return: 2 },
      { clientId: 1, kind: 'put', key: 'x', value: '2', call: 3, return: 5 },
      { clientId: 2, kind: 'get', key: 'x', output: '1', call: 6, return: 7 },
    ]),
    /overwritten by 2/,
  );
  t.equal(
    staleRead([
      { clientId: 1, kind: 'put', key: 'x', value: '1', call: 0, return: Infinity },
      { clientId: 2, kind: 'get', key: 'x', output: '1', call: 6, return: 7 },
    ]),
    undefined,
    'a write of unknown outcome may take effect late',
  );
});
