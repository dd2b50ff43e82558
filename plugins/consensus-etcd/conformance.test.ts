// The consensus conformance suite against the etcd backend on a real three-member etcd, each node
// a real process the suite kills with SIGKILL. Every cluster the suite starts gets a key prefix of
// its own on the one etcd.

import t from 'tap';
import { processClusterFactory } from '../../conformance/consensus/process-cluster.js';
import { consensusSuite } from '../../conformance/consensus/suite.js';
import { etcdMissing, startEtcd } from '../../conformance/fixtures/etcd.js';

const missing = etcdMissing(t);
if (missing) {
  t.test('the consensus suite on etcd', { skip: missing }, async () => {});
} else {
  const etcd = await startEtcd(t, { size: 3 });
  const endpoints = etcd.endpoints.join(',');
  const factory = processClusterFactory({
    plugin: 'etcd',
    env: () => ({ OLLAMA_CONSENSUS_ETCD_ENDPOINTS: endpoints }),
    consensus: (_i, cluster) => ({ etcd: { endpoints: etcd.endpoints, prefix: `/conformance-${cluster}` } }),
  });
  // A new leader waits out the dead one's lease (3 s).
  consensusSuite(t, 'etcd', factory, { membership: true, leaderDeadlineMs: 5000 });
}
