// Recovery from one survivor after the quorum is gone for good: it leads alone with everything
// it held, and takes writes again.

import t from 'tap';
import { kvCommand } from '../../conformance/consensus/kv-state-machine.js';
import { processClusterFactory } from '../../conformance/consensus/process-cluster.js';
import { waitFor } from '../../conformance/consensus/suite.js';
import { recoverAlone } from './recover.js';

t.test('a survivor of a lost quorum becomes the only voter and keeps its state', async (t) => {
  const cluster = await processClusterFactory({ plugin: 'raft' }).start({ size: 3, t });
  const member = (i: number) => cluster.members()[i]!;
  await waitFor(10_000, 'a leader', () => member(0).leader() !== undefined);
  for (let n = 0; n < 20; n++) await member(0).propose(kvCommand.put(`k${n}`, `v${n}`));
  await waitFor(5000, 'member 0 applying every write', () => Object.keys(member(0).state().state).length === 20);
  const clusterId = member(0).clusterId();

  await cluster.kill(1);
  await cluster.kill(2);
  await cluster.kill(0);
  const recovered = await recoverAlone(cluster.consensusDir(0), cluster.nodeId(0));
  t.same(recovered.removed.sort(), [cluster.nodeId(1), cluster.nodeId(2)]);
  t.equal(recovered.clusterId, clusterId, 'the cluster keeps its id');

  await cluster.restart(0);
  await waitFor(5000, 'member 0 leading alone', () => member(0).leader()?.id === cluster.nodeId(0));
  t.same(member(0).members().map((m) => [m.id, m.voter]), [[cluster.nodeId(0), true]]);
  const state = await member(0).read();
  t.equal(Object.keys(state).length, 20, 'every write it held is there');
  const { index } = await member(0).propose(kvCommand.put('after', 'recovery'));
  t.ok(index > recovered.index, 'and it takes new writes');
});

t.test('recovery refuses a data dir with no cluster or of another node', async (t) => {
  const dir = t.testdir({});
  await t.rejects(recoverAlone(dir, 'node-a'), /holds no cluster: there is nothing to recover/);
});
