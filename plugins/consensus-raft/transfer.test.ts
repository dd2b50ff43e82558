// Handing leadership over on a clean stop: a leader whose chosen voter never answers gives up after
// two election timeouts, however long its caller (a node's stop_timeout) would let it wait.

import t from 'tap';
import { processClusterFactory, type ProcessMember } from '../../conformance/consensus/process-cluster.js';
import { waitFor } from '../../conformance/consensus/suite.js';

const ELECTION_TIMEOUT_MS = 1000;

t.test('a leader whose other voters hang gives up the hand-over after two election timeouts', async (t) => {
  const cluster = await processClusterFactory({ plugin: 'raft' }).start({ size: 3, t });
  const member = (i: number) => cluster.members()[i] as ProcessMember;
  const leaderIndex = () => [0, 1, 2].find((i) => member(i).leader()?.id === cluster.nodeId(i));
  await waitFor(10_000, 'a leader every member knows', () => leaderIndex() !== undefined && [0, 1, 2].every((i) => member(i).leader() !== undefined));
  const leader = leaderIndex()!;
  const others = [0, 1, 2].filter((i) => i !== leader);
  for (const i of others) cluster.pause(i);
  t.teardown(() => others.forEach((i) => cluster.resume(i)));

  const started = Date.now();
  await member(leader).transferLeadershipWithin(60_000);
  const tookMs = Date.now() - started;
  t.ok(tookMs < 2 * ELECTION_TIMEOUT_MS + 1000, `returned after ${tookMs} ms, not at the caller's 60 s`);
});
