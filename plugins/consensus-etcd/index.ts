// The etcd consensus plugin: the cluster's log, leader and members kept in an external etcd. The
// kernel builds it with `etcdConsensus(config.consensus)({ stateMachine, nodeId, dataDir, logger })`.

import type { NodeConfig } from '../../core/config/schema.js';
import type { Consensus, ConsensusComponents } from '../../core/contracts/consensus.js';
import type { PluginMeta, Startable } from '../../core/contracts/plugin.js';
import { EtcdConsensus } from './consensus.js';
import type { EtcdConsensusOptions } from './options.js';

export { EtcdConsensus } from './consensus.js';
export type { EtcdConsensusOptions } from './options.js';

export const meta = {
  name: 'etcd',
  kind: 'consensus',
  provides: ['consensus'],
  requires: ['stateMachine', 'nodeId', 'dataDir', 'logger'],
} as const satisfies PluginMeta;

/** The consensus section of the config; the etcd backend reads its etcd keys and snapshot cadence. */
export type EtcdConsensusInit = { etcd: Pick<NodeConfig['consensus']['etcd'], 'endpoints'> & Partial<Pick<NodeConfig['consensus']['etcd'], 'prefix' | 'ca_file' | 'cert_file' | 'key_file'>> } &
  Partial<Pick<NodeConfig['consensus'], 'snapshot_interval' | 'snapshot_threshold'>> &
  Partial<Pick<EtcdConsensusOptions, 'address' | 'voter' | 'leaseTtlSeconds' | 'compactHistory' | 'startTimeoutMs' | 'requestTimeoutMs'>>;

export function etcdConsensus(init: EtcdConsensusInit) {
  return <State>(components: ConsensusComponents<State>): Consensus<State> & Startable =>
    new EtcdConsensus<State>({
      endpoints: init.etcd.endpoints,
      prefix: init.etcd.prefix,
      tls: { caFile: init.etcd.ca_file || undefined, certFile: init.etcd.cert_file || undefined, keyFile: init.etcd.key_file || undefined },
      address: init.address,
      voter: init.voter,
      leaseTtlSeconds: init.leaseTtlSeconds,
      compactHistory: init.compactHistory,
      startTimeoutMs: init.startTimeoutMs,
      requestTimeoutMs: init.requestTimeoutMs,
      snapshotIntervalMs: init.snapshot_interval,
      snapshotThreshold: init.snapshot_threshold,
      nodeId: components.nodeId,
      dataDir: components.dataDir,
      stateMachine: components.stateMachine,
      logger: components.logger.child({ plugin: meta.name }),
    });
}

export default etcdConsensus;
