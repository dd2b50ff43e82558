// The leader's membership keeper over three real Raft members on loopback: two nodes the view
// sees join, are recorded and get their votes in one go, without a tick between the steps.

import pino from 'pino';
import t from 'tap';
import { startRaftMember, until } from '../../plugins/consensus-raft/test-support.js';
import type { RaftConsensus } from '../../plugins/consensus-raft/raft-consensus.js';
import { loadConfig } from '../config/load.js';
import { ConsensusMembers } from './consensus-members.js';
import { clusterStateMachine, type ClusterState } from './state-machine.js';
import { announcement } from './test-support.js';
import type { ClusterView, Member } from './types.js';

const logger = pino({ level: 'silent' });
const HOUR_MS = 3_600_000;

const raftMember = (nodeId: string, bootstrap: boolean) => startRaftMember(nodeId, clusterStateMachine, { bootstrap });

/** The gossip view: every node healthy, each announcing its consensus address. */
function viewOf(members: RaftConsensus<ClusterState>[], ids: string[]): ClusterView {
  const list: Member[] = members.map((consensus, i) => ({
    ...announcement(ids[i]!),
    consensus: { address: consensus.address()!, clusterId: null },
    healthy: true,
    lastSeen: Date.now(),
    self: i === 0,
  }));
  return {
    self: () => list[0]!,
    members: () => list,
    member: (id) => list.find((m) => m.id === id || m.name === id),
    holders: () => [],
    conflicts: () => [],
    setDrained: async () => undefined,
    onChange: () => () => undefined,
  };
}

t.test('the leader admits, records and promotes joining nodes change after change, with no tick between', async (t) => {
  const ids = ['a', 'b', 'c'];
  const members = [await raftMember('a', true), await raftMember('b', false), await raftMember('c', false)];
  t.teardown(() => Promise.all(members.map((m) => m.stop())));
  await until('a leading its new cluster', () => members[0]!.leader()?.id === 'a');

  // The only tick is an hour away: everything below happens on start alone.
  const keeper = new ConsensusMembers({
    consensus: members[0]!,
    cluster: viewOf(members, ids),
    config: loadConfig({ env: {} }).config,
    logger,
    nodeId: 'a',
    reconcileIntervalMs: HOUR_MS,
  });
  keeper.start();
  t.teardown(() => keeper.stop());

  await until('three voters recorded in the cluster facts', () => {
    const voters = members[0]!.members().filter((m) => m.voter).map((m) => m.id);
    return voters.length === 3 && Object.keys(members[0]!.state().state.members).length === 3;
  });
  t.same(members[0]!.members().map((m) => [m.id, m.voter]).sort(), [['a', true], ['b', true], ['c', true]], 'b and c vote');
  t.same(Object.keys(members[0]!.state().state.members).sort(), ids, 'and every member is in the cluster facts');
  await until('c applying its own promotion', () => members[2]!.members().filter((m) => m.voter).length === 3);
  t.pass('c has caught up with the configuration');
});
