// The built-in consensus plugin. The kernel builds it with `raftConsensus(config.consensus)(components)`.

import type { NodeConfig } from '../../core/config/schema.js';
import type { ConsensusComponents } from '../../core/contracts/consensus.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';
import { readTlsMaterial } from '../../core/security/tls-material.js';
import type { MemberTls } from './io/transport.js';
import { RaftConsensus } from './raft-consensus.js';

export const meta = {
  name: 'raft',
  kind: 'consensus',
  provides: ['consensus'],
  requires: ['stateMachine', 'nodeId', 'logger', 'config'],
} satisfies PluginMeta;

export interface RaftComponents<State> extends Omit<ConsensusComponents<State>, 'dataDir'> {
  config: NodeConfig;
}

/** Members speak TLS to each other once the node has a certificate and the cluster CA to check theirs. */
function memberTls(config: NodeConfig): MemberTls | undefined {
  const material = readTlsMaterial(config.security.tls);
  return material?.ca ? { cert: material.cert, key: material.key, ca: material.ca } : undefined;
}

export function raftConsensus(init: NodeConfig['consensus']) {
  return <State>(components: RaftComponents<State>) => {
    const { config } = components;
    return new RaftConsensus<State>({
      nodeId: components.nodeId,
      dataDir: init.data_dir,
      bindAddr: init.bind_addr,
      advertiseAddr: init.advertise_addr,
      apiAdvertise: config.api.advertise,
      // A node told of no peers is a cluster of its own, so a lone node has a leader.
      bootstrap: init.bootstrap || config.p2p.bootstrap.length === 0,
      clusterKey: config.p2p.cluster_key,
      tls: memberTls(config),
      heartbeat_timeout: init.heartbeat_timeout,
      election_timeout: init.election_timeout,
      commit_timeout: init.commit_timeout,
      maxAppendEntries: init.max_append_entries,
      snapshotThreshold: init.snapshot_threshold,
      snapshotIntervalMs: init.snapshot_interval,
      stateMachine: components.stateMachine,
      logger: components.logger.child({ plugin: meta.name }),
    });
  };
}

export default raftConsensus;
