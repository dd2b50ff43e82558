// The etcd backend against a three-member etcd: members on different etcd members apply the same
// log, and one cut off while the log is snapshotted and compacted catches up from the snapshot.

import { Etcd3 } from 'etcd3';
import t from 'tap';
import { etcdMissing, startEtcd } from '../../conformance/fixtures/etcd.js';
import { eventually, freshPrefix, startMember } from './testing.js';

const missing = etcdMissing(t);

t.test('three nodes on a three-member etcd; one cut off through a compaction restores from the snapshot', { skip: missing }, async (t) => {
  const etcd = await startEtcd(t, { size: 3 });
  const [e0, e1, e2] = etcd.endpoints as [string, string, string];
  const prefix = freshPrefix();
  const snapshots = { snapshotThreshold: 5, snapshotIntervalMs: 50 };
  const a = await startMember(t, { endpoints: [e0, e1], prefix, nodeId: 'a', ...snapshots });
  const b = await startMember(t, { endpoints: [e2], prefix, nodeId: 'b', ...snapshots });
  const c = await startMember(t, { endpoints: [e1, e0], prefix, nodeId: 'c', ...snapshots });
  // Another cluster on the same etcd that never snapshots: the compaction above is not its own.
  const otherPrefix = freshPrefix();
  const y0 = await startMember(t, { endpoints: [e0], prefix: otherPrefix, nodeId: 'y0' });
  const y1 = await startMember(t, { endpoints: [e2], prefix: otherPrefix, nodeId: 'y1' });
  const restoredOnB: number[] = [];
  b.watch((event) => {
    if (event.type === 'snapshot') restoredOnB.push(event.index);
  });

  await Promise.all([a, b, c].flatMap((member, i) => Array.from({ length: 4 }, (_, k) => member.propose({ type: 'add', payload: `${i}-${k}` }))));
  const [sa, sb, sc] = await Promise.all([a.read(), b.read(), c.read()]);
  t.equal(sa.length, 12);
  t.same(sb, sa, 'b, on another etcd member, applied the same order');
  t.same(sc, sa, 'c too');
  await eventually('a leads', () => a.leader()?.id === 'a');

  const cutAt = b.state().index;
  await etcd.kill(2);
  let last = 0;
  for (let i = 0; i < 20; i++) {
    last = (await a.propose({ type: 'add', payload: `late-${i}` })).index;
    if (i % 4 === 0) await y0.propose({ type: 'add', payload: `y-${i}` });
  }
  const admin = new Etcd3({ hosts: [e0, e1] });
  t.teardown(() => admin.close());
  await eventually('a snapshotted the log and compacted etcd past b', async () => {
    try {
      await admin.get('anything').revision(cutAt + 1).exec();
      return false;
    } catch (error) {
      return /compacted/.test((error as Error).message);
    }
  });
  t.ok(b.state().index <= cutAt, 'b saw nothing while its etcd member was down');
  t.same(await admin.getAll().prefix(`${prefix}/log/`).maxModRevision(String(cutAt)).keys(), [], 'the log keys b had seen were deleted');

  await etcd.restart(2);
  const expected = await a.read();
  await eventually('b caught up', async () => JSON.stringify(b.state().state) === JSON.stringify(expected), 20_000);
  t.ok(restoredOnB.length > 0 && restoredOnB.at(-1)! > cutAt, `b restored from a snapshot past its cut (${restoredOnB.join(', ')})`);
  t.same(await b.read(), await a.read(), 'and follows the log after it');
  t.ok(b.state().index >= last, 'b applied through the last write');

  const ys = await y0.read();
  t.equal(ys.length, 5);
  await eventually('y1, cut off through the other cluster\'s compaction, caught up from its log keys', () => JSON.stringify(y1.state().state) === JSON.stringify(ys), 20_000);

  const late = await startMember(t, { endpoints: [e2], prefix, nodeId: 'late' });
  t.same(late.state().state, await a.read(), 'a node starting after the compaction starts from the snapshot');
});
