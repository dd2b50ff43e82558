// A proposal a follower forwarded to a leader that hung before appending it is lost: the proposer
// hears so about an election timeout after the new leader is known, not at its own deadline.

import t from 'tap';
import { kvCommand } from '../../conformance/consensus/kv-state-machine.js';
import { processClusterFactory } from '../../conformance/consensus/process-cluster.js';
import { waitFor } from '../../conformance/consensus/suite.js';

const DEADLINE_MS = 30_000;
/** How long the raft plugin waits on any request at most (raft-consensus.ts). */
const REQUEST_TIMEOUT_MS = 10_000;

t.test('a proposal lost with a hung leader fails soon with an unknown outcome, and the next one is applied', async (t) => {
  const cluster = await processClusterFactory({ plugin: 'raft' }).start({ size: 3, t });
  const leaderIndex = () => [0, 1, 2].find((i) => cluster.members()[i]?.leader()?.id === cluster.nodeId(i));
  await waitFor(10_000, 'a leader every member knows', () => leaderIndex() !== undefined && [0, 1, 2].every((i) => cluster.members()[i]!.leader() !== undefined));
  const hung = leaderIndex()!;
  const follower = cluster.members()[(hung + 1) % 3]!;
  cluster.pause(hung);
  t.teardown(() => cluster.resume(hung));

  const started = Date.now();
  const error = await follower.propose(kvCommand.put('k', 'lost'), AbortSignal.timeout(DEADLINE_MS)).then(
    () => undefined,
    (error: Error) => error,
  );
  const waited = Date.now() - started;
  t.match(error?.message, /leader changed while the proposal was under way; it may or may not be applied/, `the proposal fails as lost: ${error?.message}`);
  t.ok(waited < REQUEST_TIMEOUT_MS - 2000, `after ${waited} ms, before a request's own ${REQUEST_TIMEOUT_MS} ms timeout`);

  const { index } = await follower.propose(kvCommand.put('k', 'applied'), AbortSignal.timeout(DEADLINE_MS));
  t.ok(index > 0, 'the new leader takes the next proposal');
  t.equal(follower.state().state.k, 'applied');
});
