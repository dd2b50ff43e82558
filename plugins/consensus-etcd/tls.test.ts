// The etcd backend against an etcd served over TLS that checks its clients' certificates: with the
// CA and a client certificate from the config it works; without the certificate it is refused
// with an error naming the endpoints; with plain http:// it refuses to start.

import t from 'tap';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { etcdMissing, startEtcd } from '../../conformance/fixtures/etcd.js';
import { EtcdConsensus } from './consensus.js';
import etcdConsensus from './index.js';
import { freshPrefix, listMachine } from './testing.js';

const missing = etcdMissing(t);

t.test('TLS from config: CA, client certificate and key', { skip: missing }, async (t) => {
  const etcd = await startEtcd(t, { tls: true });
  const { caFile, certFile, keyFile } = etcd.tls!;
  t.match(etcd.endpoints[0], /^https:\/\//);

  const config = loadConfig({
    env: { OLLAMA_CONSENSUS_ETCD_ENDPOINTS: etcd.endpoints.join(','), OLLAMA_CONSENSUS_ETCD_CA_FILE: caFile, OLLAMA_CONSENSUS_ETCD_CERT_FILE: certFile, OLLAMA_CONSENSUS_ETCD_KEY_FILE: keyFile },
  }).config;
  const member = etcdConsensus({ ...config.consensus, etcd: { ...config.consensus.etcd, prefix: freshPrefix() } })({
    stateMachine: listMachine,
    nodeId: 'tls-a',
    dataDir: t.testdir({}),
    logger: silentLogger(),
  });
  t.teardown(() => member.stop());
  await member.start(AbortSignal.timeout(15_000));
  const { index } = await member.propose({ type: 'add', payload: 'over tls' });
  t.ok(index > 0, 'a command goes through');
  t.same(await member.read(), ['over tls']);

  const stranger = new EtcdConsensus<string[]>({ endpoints: etcd.endpoints, prefix: freshPrefix(), nodeId: 'no-cert', stateMachine: listMachine, logger: silentLogger(), tls: { caFile }, startTimeoutMs: 2000 });
  t.teardown(() => stranger.stop());
  await t.rejects(stranger.start(), /consensus\.etcd\.endpoints: no etcd answered/, 'a client without a certificate is refused');

  t.throws(
    () => new EtcdConsensus<string[]>({ endpoints: ['http://127.0.0.1:2379'], nodeId: 'plain', stateMachine: listMachine, logger: silentLogger(), tls: { caFile } }),
    /consensus\.etcd\.endpoints: http:\/\/127\.0\.0\.1:2379 is plain http while TLS files are set; use https:\/\//,
  );
  t.throws(
    () => new EtcdConsensus<string[]>({ endpoints: etcd.endpoints, nodeId: 'half', stateMachine: listMachine, logger: silentLogger(), tls: { caFile, certFile } }),
    /consensus\.etcd\.key_file: goes with consensus\.etcd\.cert_file/,
  );
  t.throws(
    () => new EtcdConsensus<string[]>({ endpoints: etcd.endpoints, nodeId: 'gone', stateMachine: listMachine, logger: silentLogger(), tls: { caFile: '/nonexistent/ca.pem' } }),
    /consensus\.etcd\.ca_file: cannot read \/nonexistent\/ca\.pem: ENOENT/,
  );
});
