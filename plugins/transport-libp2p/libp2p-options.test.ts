// The p2p config section as libp2p options, and which addresses keep the DHT's private ones.

import { generateKeyPair } from '@libp2p/crypto/keys';
import t from 'tap';
import { loadConfig } from '../../core/config/load.js';
import { retryDelay } from './bootstrap.js';
import { connectionsToTrim } from './connection-trim.js';
import { advertisesOnlyPublic, libp2pOptions } from './libp2p-options.js';

t.test('the config keys reach libp2p', async (t) => {
  const p2p = loadConfig({ env: { OLLAMA_P2P_ENABLE_DHT: 'false' } }).config.p2p;
  const options = libp2pOptions({ ...p2p, conn_mgr_high: 77, dial_timeout: 1234, announce: ['/dns4/node-1/tcp/4001'] }, await generateKeyPair('Ed25519'));
  t.equal(options.connectionManager?.maxConnections, 77, 'conn_mgr_high');
  t.equal(options.connectionManager?.dialTimeout, 1234, 'dial_timeout');
  t.equal(options.connectionManager?.addressDialTimeout, 1234, 'no address dial outlasts the dial');
  t.same(options.addresses, { listen: [p2p.listen], announce: ['/dns4/node-1/tcp/4001'] }, 'listen and announce');
  t.same(Object.keys(options.services ?? {}).sort(), ['identify', 'ping', 'pubsub'], 'enable_dht false leaves the DHT out');
  const neither = libp2pOptions({ ...p2p, enable_pubsub: false }, await generateKeyPair('Ed25519'));
  t.same(Object.keys(neither.services ?? {}).sort(), ['identify', 'ping'], 'enable_pubsub false leaves gossipsub out');
});

t.test('only all-public advertised addresses drop private ones from the DHT', async (t) => {
  t.notOk(advertisesOnlyPublic(['/ip4/127.0.0.1/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/ip4/10.0.0.5/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/ip4/172.20.0.2/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/ip4/192.168.1.9/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/ip4/0.0.0.0/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/dns4/ollama-node-1/tcp/4001']), 'a name, as in Docker or Kubernetes');
  t.notOk(advertisesOnlyPublic(['/ip6/fd00::1/tcp/4001']));
  t.notOk(advertisesOnlyPublic(['/ip4/203.0.113.7/tcp/4001', '/ip4/10.0.0.5/tcp/4001']), 'one private is enough');
  t.ok(advertisesOnlyPublic(['/ip4/203.0.113.7/tcp/4001']));
  t.ok(advertisesOnlyPublic(['/ip4/172.32.0.1/tcp/4001']), '172.32 is outside 172.16/12');
  t.ok(advertisesOnlyPublic(['/ip6/2001:db8::1/tcp/4001']));
});

t.test('bootstrap retries back off from 1 s to 30 s', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelay), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

t.test('trimming keeps members longest, then busy and old connections', async (t) => {
  const c = (member: boolean, streams: number, opened: number) => ({ member, streams, opened });
  t.same(connectionsToTrim([c(true, 0, 1), c(false, 5, 1)], 2), [], 'nothing under the low mark');
  t.same(connectionsToTrim([c(true, 0, 1), c(false, 5, 1), c(true, 3, 1)], 1), [1, 0], 'the non-member first, then the idle member');
  t.same(connectionsToTrim([c(true, 1, 1), c(true, 1, 9)], 1), [1], 'the younger of equals');
});
