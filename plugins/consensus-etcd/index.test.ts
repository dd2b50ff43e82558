// The plugin module: the metadata the kernel checks, and a member built from the node's config
// (consensus.etcd.endpoints from its environment variable) that works on a real etcd.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { etcdMissing, startEtcd } from '../../conformance/fixtures/etcd.js';
import etcdConsensus, { meta } from './index.js';
import { listMachine } from './testing.js';

const missing = etcdMissing(t);

t.test('meta names what the kernel must give it', async (t) => {
  t.same(meta, { name: 'etcd', kind: 'consensus', provides: ['consensus'], requires: ['stateMachine', 'nodeId', 'dataDir', 'logger'] });
  t.equal(typeof etcdConsensus, 'function');
});

t.test('built from the config, it joins the cluster in etcd', { skip: missing }, async (t) => {
  const etcd = await startEtcd(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'od-etcd-plugin-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const { config } = loadConfig({ env: { OLLAMA_CONSENSUS_ETCD_ENDPOINTS: etcd.endpoints.join(',') } });
  t.same(config.consensus.etcd.endpoints, etcd.endpoints);
  const consensus = etcdConsensus(config.consensus)({ stateMachine: listMachine, nodeId: 'node-1', dataDir, logger: silentLogger() });
  t.teardown(() => consensus.stop());
  await consensus.start(AbortSignal.timeout(10_000));
  t.equal(consensus.name, 'etcd');
  t.same(await consensus.propose({ type: 'add', payload: 'hello' }), { index: consensus.state().index, result: 1 });
  t.same(consensus.members(), [{ id: 'node-1', address: etcd.endpoints[0], voter: true }]);
  t.ok(consensus.clusterId());
});
