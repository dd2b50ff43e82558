// What only the libp2p transport promises beyond the conformance suite: a closed cluster by key
// (refusals logged on both sides within 5 s), bootstrap retries, and clear start errors.

import './promise-polyfill.js';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identify } from '@libp2p/identify';
import type { GossipSub } from '@libp2p/gossipsub';
import type { Libp2p } from '@libp2p/interface';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createLibp2p } from 'libp2p';
import { pino } from 'pino';
import t from 'tap';
import { eventually, sleep, withoutPeerId } from '../../conformance/transport/index.js';
import { freePort } from '../../conformance/fixtures/free-port.js';
import { loadConfig } from '../../core/config/load.js';
import type { PeerEvent } from '../../core/contracts/transport.js';
import { PACKAGE_ROOT } from '../../core/version.js';
import { dialTarget } from './dial-target.js';
import { libp2pOptions, type P2pConfig } from './libp2p-options.js';
import { NODE_KEY_FILE } from './node-key.js';
import { Libp2pTransport } from './transport.js';

const base = loadConfig({ env: { OLLAMA_P2P_LISTEN: '/ip4/127.0.0.1/tcp/0', OLLAMA_API_LISTEN: '127.0.0.1:0' } }).config;

interface LogLine {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}
const WARN = 40;
const ERROR = 50;

interface TestPeer {
  transport: Libp2pTransport;
  lines: LogLine[];
  events: PeerEvent[];
  dataDir: string;
  /** The first address without its /p2p part, as the seed writes bootstrap addresses. */
  address: string;
}

const stops: (() => Promise<unknown>)[] = [];
t.afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'od-libp2p-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function unstarted(p2p: Partial<P2pConfig> = {}, options: { dataDir?: string; clusterProtocol?: number; apiListen?: string } = {}) {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  const dataDir = options.dataDir ?? newDataDir();
  const transport = new Libp2pTransport({
    p2p: { ...base.p2p, ...p2p },
    dataDir,
    logger,
    apiListen: options.apiListen ?? base.api.listen,
    clusterProtocol: options.clusterProtocol,
  });
  stops.push(() => transport.stop());
  const events: PeerEvent[] = [];
  transport.onPeerEvent((event) => events.push(event));
  return { transport, lines, events, dataDir };
}

async function peer(p2p: Partial<P2pConfig> = {}, options: { dataDir?: string; clusterProtocol?: number; apiListen?: string } = {}): Promise<TestPeer> {
  const made = unstarted(p2p, options);
  await made.transport.start();
  return { ...made, address: withoutPeerId(made.transport.addresses()[0]!) };
}

/** A plain libp2p node with the same stack that never runs the join handshake. */
async function outsider(): Promise<Libp2p<{ identify: Identify; pubsub: GossipSub }>> {
  const node = (await createLibp2p(libp2pOptions({ ...base.p2p }, await generateKeyPair('Ed25519')))) as unknown as Libp2p<{ identify: Identify; pubsub: GossipSub }>;
  await node.start();
  stops.push(() => Promise.resolve(node.stop()));
  return node;
}

const logged = (lines: LogLine[], level: number, text: string) => lines.find((line) => line.level === level && line.msg === text);

t.test('nodes with the same cluster key admit each other', async (t) => {
  const key = randomBytes(32).toString('base64url');
  const a = await peer({ cluster_key: key });
  const b = await peer({ cluster_key: key });
  await b.transport.dial(a.address, AbortSignal.timeout(10_000));
  await eventually(() => a.events.length > 0, 5000, 'A admits B');
  t.same(a.events, [{ type: 'connected', peerId: b.transport.peerId }]);
  t.same(b.events, [{ type: 'connected', peerId: a.transport.peerId }]);
  t.same(a.transport.peers().map((p) => p.peerId), [b.transport.peerId]);
  t.notOk(JSON.stringify([...a.lines, ...b.lines]).includes(key), 'the key is never logged');
});

interface RefusalCase {
  name: string;
  member: Partial<P2pConfig>;
  joiner: Partial<P2pConfig>;
  memberProtocol?: number;
  joinerProtocol?: number;
  /** What the member (dialed) logs at warn, and what the joiner (dialer) logs at error. */
  memberSays: (joinerId: string) => string;
  joinerSays: (memberId: string) => string;
}

const KEY_A = `key-a-${randomBytes(8).toString('hex')}`;
const KEY_B = `key-b-${randomBytes(8).toString('hex')}`;

const refusals: RefusalCase[] = [
  {
    name: 'a different key',
    member: { cluster_key: KEY_A },
    joiner: { cluster_key: KEY_B },
    memberSays: (id) => `peer ${id} refused: it holds a different cluster key`,
    joinerSays: (id) => `refused by ${id}: this node's cluster key does not match the cluster's (p2p.cluster_key)`,
  },
  {
    name: 'no key where the cluster has one',
    member: { cluster_key: KEY_A },
    joiner: { cluster_key: '' },
    memberSays: (id) => `peer ${id} refused: it holds no cluster key and this cluster requires one (p2p.cluster_key)`,
    joinerSays: (id) => `refused by ${id}: the cluster requires a cluster key and this node has none; set p2p.cluster_key`,
  },
  {
    name: 'a key where the cluster has none',
    member: { cluster_key: '' },
    joiner: { cluster_key: KEY_B },
    memberSays: (id) => `peer ${id} refused: it holds a cluster key and this node has none (p2p.cluster_key is empty: an open cluster)`,
    joinerSays: (id) => `refused by ${id}: it runs an open cluster without a cluster key and this node holds one (p2p.cluster_key)`,
  },
  {
    name: 'another cluster protocol',
    member: { cluster_key: KEY_A },
    joiner: { cluster_key: KEY_A },
    memberProtocol: 1,
    joinerProtocol: 2,
    memberSays: (id) => `peer ${id} refused: it speaks cluster protocol 2, this node speaks 1; upgrade the older node so both speak the same cluster protocol`,
    joinerSays: (id) => `refused by ${id}: it speaks cluster protocol 1, this node speaks 2; upgrade the older node so both speak the same cluster protocol`,
  },
];

for (const c of refusals) {
  t.test(`a joiner with ${c.name} is refused within 5 s, and both sides say why`, async (t) => {
    const member = await peer(c.member, { clusterProtocol: c.memberProtocol });
    const joiner = await peer(c.joiner, { clusterProtocol: c.joinerProtocol });
    const memberSays = c.memberSays(joiner.transport.peerId);
    const joinerSays = c.joinerSays(member.transport.peerId);
    const began = Date.now();
    await t.rejects(joiner.transport.dial(member.address, AbortSignal.timeout(10_000)), { message: joinerSays }, 'dial rejects with the reason');
    await eventually(() => Boolean(logged(member.lines, WARN, memberSays) && logged(joiner.lines, ERROR, joinerSays)), 5000, 'both sides log the refusal');
    const memberMs = logged(member.lines, WARN, memberSays)!.time - began;
    const joinerMs = logged(joiner.lines, ERROR, joinerSays)!.time - began;
    t.ok(memberMs < 5000 && joinerMs < 5000, `refused in ${memberMs} ms (member) and ${joinerMs} ms (joiner)`);
    t.comment(`${c.name}: member logged after ${memberMs} ms, joiner after ${joinerMs} ms`);
    await sleep(200);
    t.same(member.transport.peers(), [], 'the member does not list the joiner');
    t.same(joiner.transport.peers(), [], 'the joiner does not list the member');
    t.same([...member.events, ...joiner.events], [], 'no peer event fires on either side');
    const text = JSON.stringify([...member.lines, ...joiner.lines]);
    t.notOk(text.includes(KEY_A) || text.includes(KEY_B), 'no key reaches the logs');
  });
}

t.test('a peer that never runs the handshake is hung up after 5 s; meanwhile its streams and gossip go nowhere', async (t) => {
  const key = randomBytes(32).toString('base64url');
  const member = await peer({ cluster_key: key });
  const friend = await peer({ cluster_key: key });
  await friend.transport.dial(member.address, AbortSignal.timeout(10_000));
  const topic = '/test/members';
  const heard: string[] = [];
  member.transport.subscribe(topic, (message) => heard.push(Buffer.from(message.data).toString()));
  let handled = 0;
  member.transport.handle('/test/echo/1.0.0', async (stream) => {
    handled += 1;
    await stream.closeWrite();
  });

  const intruder = await outsider();
  const began = Date.now();
  const connection = await intruder.dial(dialTarget(member.address), { signal: AbortSignal.timeout(5000) });
  await intruder.services.identify.identify(connection);
  intruder.services.pubsub.subscribe(topic);
  const refused = `peer ${intruder.peerId.toString()} refused: it did not finish the cluster join handshake within 5 s`;
  const stream = await intruder.dialProtocol(connection.remotePeer, '/test/echo/1.0.0', { signal: AbortSignal.timeout(3000) });
  await eventually(() => stream.status === 'reset', 2000, "the member resets the outsider's stream");
  while (!logged(member.lines, WARN, refused) && Date.now() - began < 4000) {
    await intruder.services.pubsub.publish(topic, Buffer.from('intruder')).catch(() => undefined);
    await friend.transport.publish(topic, Buffer.from('member'));
    await sleep(200);
  }
  t.equal(handled, 0, 'the handler never saw the outsider');
  t.ok(heard.includes('member'), 'gossip from a member arrives in the same time');
  t.notOk(heard.includes('intruder'), 'gossip from the outsider is dropped');
  t.same(member.transport.peers().map((p) => p.peerId), [friend.transport.peerId], 'only the member is listed');
  await eventually(() => Boolean(logged(member.lines, WARN, refused)), 6000, 'the member logs the timeout');
  const took = logged(member.lines, WARN, refused)!.time - began;
  t.ok(took >= 4500 && took < 6000, `refused ${took} ms after it connected`);
  await t.rejects(connection.newStream('/ipfs/id/1.0.0', { signal: AbortSignal.timeout(2000) }), 'and its connection is hung up');
});

t.test('dialing a libp2p node that does not speak the join protocol refuses it at once', async (t) => {
  const member = await peer();
  const stranger = await outsider();
  const address = withoutPeerId(stranger.getMultiaddrs()[0]!.toString());
  const began = Date.now();
  const says = `peer ${stranger.peerId.toString()} refused: it does not speak the cluster join protocol /ollama-distributed/join/1.0.0 (not an ollama-distributed node, or a much older one)`;
  await t.rejects(member.transport.dial(address, AbortSignal.timeout(5000)), { message: says });
  t.ok(Date.now() - began < 2000, 'without waiting for a timeout');
  t.ok(logged(member.lines, WARN, says), 'and says so in the log');
  await eventually(() => stranger.getConnections().every((c) => c.status !== 'open'), 2000, 'and hangs up');
});

t.test('a bootstrap peer that is down does not hold up start, and is joined once it comes up', async (t) => {
  const port = await freePort();
  const began = Date.now();
  const joiner = await peer({ bootstrap: [`/ip4/127.0.0.1/tcp/${port}`] });
  t.ok(Date.now() - began < 2000, `start returns while the peer is down (${Date.now() - began} ms)`);
  await eventually(() => joiner.lines.some((l) => l.level === WARN && l.msg === 'bootstrap peer not reachable yet; retrying in the background'), 2000, 'the first failure is logged');
  await sleep(1500);
  const member = await peer({ listen: `/ip4/127.0.0.1/tcp/${port}` });
  const up = Date.now();
  await eventually(() => joiner.events.some((e) => e.type === 'connected' && e.peerId === member.transport.peerId), 6000, 'the joiner connects');
  t.comment(`joined ${Date.now() - up} ms after the bootstrap peer came up`);
  // Each side admits the other when its own half of the join handshake ends, not at one instant.
  await eventually(() => member.events.length > 0, 2000, 'the member admits the joiner');
  t.same(member.events, [{ type: 'connected', peerId: joiner.transport.peerId }]);

  await member.transport.hangUp(joiner.transport.peerId);
  await eventually(() => joiner.events.filter((e) => e.type === 'connected').length === 2, 5000, 'the joiner dials the bootstrap peer again after losing it');
  t.same(joiner.events.map((e) => e.type), ['connected', 'disconnected', 'connected']);
});

t.test('bootstrap addresses in full /p2p form and by /dns4 name work', async (t) => {
  const member = await peer();
  const port = member.address.split('/')[4];
  const full = await peer({ bootstrap: [member.transport.addresses()[0]!] });
  const named = await peer({ bootstrap: [`/dns4/localhost/tcp/${port}`] });
  await eventually(() => full.events.length > 0 && named.events.length > 0, 5000, 'both join');
  t.same(full.events, [{ type: 'connected', peerId: member.transport.peerId }]);
  t.same(named.events, [{ type: 'connected', peerId: member.transport.peerId }]);
});

t.test('the cluster key can come from a file, trimmed', async (t) => {
  const key = randomBytes(32).toString('base64url');
  const file = join(newDataDir(), 'cluster.key');
  writeFileSync(file, `${key}\n`);
  const fromFile = await peer({ cluster_key: file });
  const inline = await peer({ cluster_key: key });
  await inline.transport.dial(fromFile.address, AbortSignal.timeout(10_000));
  t.same(inline.transport.peers().map((p) => p.peerId), [fromFile.transport.peerId], 'a file key and the same key inline agree');
  t.notOk(JSON.stringify(fromFile.lines).includes(key), 'the file key is not logged');

  await t.rejects(unstarted({ cluster_key: join(newDataDir(), 'missing.key') }).transport.start(), { message: /p2p\.cluster_key names the file .*missing\.key, which does not exist/ });
  const empty = join(newDataDir(), 'empty.key');
  writeFileSync(empty, '\n');
  await t.rejects(unstarted({ cluster_key: empty }).transport.start(), { message: /which is empty/ });
});

t.test('the node key is private to its owner, and a damaged one stops the start', async (t) => {
  const dataDir = newDataDir();
  const first = await peer({}, { dataDir });
  const file = join(dataDir, NODE_KEY_FILE);
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600');
  await first.transport.stop();
  writeFileSync(file, 'not a key');
  await t.rejects(unstarted({}, { dataDir }).transport.start(), { message: new RegExp(`the node key ${file} is damaged .*delete it to give this node a new peer id`) });
  t.equal(readFileSync(file, 'utf8'), 'not a key', 'the damaged file is left for the operator');
});

t.test('a P2P port in use is a start error naming p2p.listen', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const listen = `/ip4/127.0.0.1/tcp/${(server.address() as { port: number }).port}`;
  await t.rejects(unstarted({ listen }).transport.start(), { message: `p2p.listen ${listen} is in use: another node or program holds that port; choose another with --p2p-listen or OLLAMA_P2P_LISTEN` });
});

t.test('an open cluster reachable beyond loopback says so', async (t) => {
  const open = 'the cluster is open: no p2p.cluster_key is set, so anyone who can reach these ports can join; make a key with `ollama-distributed cluster-key`';
  const wide = await peer({ listen: '/ip4/0.0.0.0/tcp/0' });
  t.ok(logged(wide.lines, WARN, open), 'P2P on 0.0.0.0 without a key');
  const wideApi = await peer({}, { apiListen: '0.0.0.0:11434' });
  t.ok(logged(wideApi.lines, WARN, open), 'API on 0.0.0.0 without a key');
  const keyed = await peer({ listen: '/ip4/0.0.0.0/tcp/0', cluster_key: KEY_A });
  t.notOk(logged(keyed.lines, WARN, open), 'not with a key');
  const local = await peer();
  t.notOk(logged(local.lines, WARN, open), 'not on loopback');
});

t.test('p2p.announce replaces the listen addresses the node advertises', async (t) => {
  const node = await peer({ announce: ['/ip4/10.9.8.7/tcp/4001'] });
  t.same(node.transport.addresses(), [`/ip4/10.9.8.7/tcp/4001/p2p/${node.transport.peerId}`]);
});

t.test('the cluster-key command prints one new key a node accepts', async (t) => {
  const cli = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const run = () => spawnSync(process.execPath, [cli, 'cluster-key'], { encoding: 'utf8', timeout: 30_000 });
  const [first, second] = [run(), run()];
  t.equal(first.status, 0, first.stderr);
  t.match(first.stdout, /^[A-Za-z0-9_-]{43}\n$/, 'one line of 32 random bytes in base64url');
  t.not(first.stdout, second.stdout, 'a new key each time');
  const key = first.stdout.trim();
  const a = await peer({ cluster_key: key });
  const b = await peer({ cluster_key: key });
  await b.transport.dial(a.address, AbortSignal.timeout(10_000));
  t.same(b.transport.peers().map((p) => p.peerId), [a.transport.peerId], 'two nodes holding it admit each other');
});

t.test('above conn_mgr_high connections are pruned down to conn_mgr_low', async (t) => {
  const hub = await peer({ conn_mgr_high: 2, conn_mgr_low: 1 });
  const others = [await peer(), await peer(), await peer()];
  for (const other of others) await hub.transport.dial(other.address, AbortSignal.timeout(10_000)).catch(() => undefined);
  await eventually(() => hub.transport.peers().length === 1, 3000, 'one connection is kept');
  await sleep(300);
  t.equal(hub.transport.peers().length, 1, 'and stays at the low mark');
});

t.test('a bootstrap peer that refuses this node is retried with backoff and the refusal logged', async (t) => {
  const member = await peer({ cluster_key: KEY_A });
  const joiner = await peer({ cluster_key: KEY_B, bootstrap: [member.address] });
  const says = `refused by ${member.transport.peerId}: this node's cluster key does not match the cluster's (p2p.cluster_key)`;
  await eventually(() => joiner.lines.filter((l) => l.level === WARN && l.msg === 'the bootstrap peer refused this node; retrying in the background' && l.err === says).length >= 2, 5000, 'two refused tries');
  const tries = joiner.lines.filter((l) => l.msg === 'the bootstrap peer refused this node; retrying in the background');
  t.same(tries.map((l) => l.retry_in_ms), [1000, 2000], 'backing off');
  t.same(joiner.events, [], 'never admitted');
});
