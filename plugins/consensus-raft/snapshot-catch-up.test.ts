// A follower that was down while the leader compacted its log catches up from the leader's
// snapshot: real member processes, the follower killed with SIGKILL and restarted on its data dir.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { kvCommand } from '../../conformance/consensus/kv-state-machine.js';
import { processClusterFactory } from '../../conformance/consensus/process-cluster.js';
import { waitFor } from '../../conformance/consensus/suite.js';

const WRITES = 100;
const FOLLOWER = 2;
const root = mkdtempSync(join(tmpdir(), 'od-snapshot-catch-up-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = (i: number) => join(root, `member-${i + 1}`);

/** Indexes of the snapshots in a member's data dir (snap-<index>-<term>.snap, in hex). */
const snapshotIndexes = (i: number) =>
  readdirSync(dataDir(i), { recursive: true })
    .map((name) => /snap-([0-9a-f]{16})-[0-9a-f]{16}\.snap$/.exec(String(name))?.[1])
    .filter((hex): hex is string => hex !== undefined)
    .map((hex) => parseInt(hex, 16));

t.test('a restarted follower behind a compacted log catches up by the leader’s snapshot', async (t) => {
  const factory = processClusterFactory({
    plugin: 'raft',
    // The follower never snapshots on its own: any snapshot it holds came from the leader.
    consensus: (i) => ({ data_dir: dataDir(i), snapshot_threshold: i === FOLLOWER ? 1_000_000 : 20, snapshot_interval: 100 }),
  });
  const cluster = await factory.start({ size: 3, t });
  const live = () => cluster.members().filter((m) => m !== undefined);
  const leaderOf = () => live().find((m) => m.leader() !== undefined && m.leader()!.id === cluster.nodeId(cluster.members().indexOf(m)));
  await waitFor(10_000, 'a leader the follower knows', () => cluster.members()[FOLLOWER]?.leader() !== undefined && leaderOf() !== undefined);
  if (leaderOf() === cluster.members()[FOLLOWER]) {
    await cluster.members()[FOLLOWER]!.transferLeadership();
    await waitFor(10_000, 'another leader', () => leaderOf() !== undefined && leaderOf() !== cluster.members()[FOLLOWER]);
  }
  await cluster.members()[0]!.propose(kvCommand.put('before', 'kill'));
  await waitFor(5000, 'the follower applying the first write', () => cluster.members()[FOLLOWER]!.state().state.before === 'kill');
  const indexBefore = cluster.members()[FOLLOWER]!.state().index;
  t.same(snapshotIndexes(FOLLOWER), [], 'no snapshot on the follower yet');

  await cluster.kill(FOLLOWER);
  const leader = leaderOf()!;
  const leaderAt = cluster.members().indexOf(leader);
  const other = [0, 1, 2].find((i) => i !== FOLLOWER && i !== leaderAt)!;
  for (let batch = 0; batch < WRITES; batch += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => leader.propose(kvCommand.put(`key-${batch + k}`, `value-${batch + k}`))));
  }
  const written = leader.state().index;
  await waitFor(5000, 'the other member applying every write', () => cluster.members()[other]!.state().index >= written);
  await waitFor(5000, 'the other member compacting past the follower', () => snapshotIndexes(other).some((index) => index > indexBefore));
  // The leader's transport still holds the appends it queued for the dead follower and would
  // deliver them when it is back; the other member, which leads next, never sent it any.
  await cluster.kill(leaderAt);

  await cluster.restart(FOLLOWER);
  const follower = cluster.members()[FOLLOWER]!;
  await waitFor(10_000, 'the follower applying every write', () => follower.state().index >= written);
  t.equal(follower.leader()?.id, cluster.nodeId(other), 'led by the other member');
  const { state } = follower.state();
  const missing = Array.from({ length: WRITES }, (_, k) => k).filter((k) => state[`key-${k}`] !== `value-${k}`);
  t.same(missing, [], `the follower holds all ${WRITES} writes`);
  t.equal(state.before, 'kill');
  const installed = snapshotIndexes(FOLLOWER);
  t.ok(installed.some((index) => index > indexBefore), `it installed the leader's snapshot (at ${installed.join(', ')}; it had applied ${indexBefore})`);
});
