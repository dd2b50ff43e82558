// The consensus transport over real sockets on 127.0.0.1: delivery in order both ways, reconnects,
// admission by cluster key and cluster id, frame limits, hostile bytes, and a clean stop.

import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { eventually } from '../../../conformance/transport/index.js';
import type { Message } from '../core/types.js';
import { frame } from './frames.js';
import { RaftTransport, type MismatchedPeer, type RaftTransportOptions } from './transport.js';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}
const WARN = 40;
const ERROR = 50;

interface Node {
  id: string;
  transport: RaftTransport;
  received: Message[];
  down: string[];
  mismatches: MismatchedPeer[];
  logs: LogLine[];
  peer(): { id: string; address: string };
}

const socketHandles = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap').length;
const baselineHandles = socketHandles();

async function node(t: Test, id: string, options: Partial<RaftTransportOptions> = {}): Promise<Node> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const transport = new RaftTransport({ nodeId: id, bindAddr: '127.0.0.1:0', clusterId: () => 'cluster-1', logger, backoff: { firstMs: 20, maxMs: 200 }, ...options });
  const n: Node = { id, transport, received: [], down: [], mismatches: [], logs, peer: () => ({ id, address: transport.address() }) };
  transport.onMessage((m) => n.received.push(m));
  transport.onPeerDown((peer) => n.down.push(peer));
  transport.onMismatch((peer) => n.mismatches.push(peer));
  await transport.start();
  t.teardown(() => transport.stop());
  return n;
}

const heartbeat = (from: string, to: string, commit: number): Message => ({ type: 'heartbeat', from, to, term: 1, commit });
const logged = (n: Node, level: number, pattern: RegExp) => n.logs.some((line) => line.level >= level && pattern.test(line.msg));

t.test('messages arrive in order, both ways', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  for (let i = 0; i < 300; i++) {
    a.transport.send(b.peer(), heartbeat('a', 'b', i));
    b.transport.send(a.peer(), heartbeat('b', 'a', i));
  }
  await eventually(() => a.received.length === 300 && b.received.length === 300, 5000, 'all messages delivered');
  t.strictSame(b.received.map((m) => m.commit), Array.from({ length: 300 }, (_, i) => i), 'a to b in order');
  t.strictSame(a.received.map((m) => m.commit), Array.from({ length: 300 }, (_, i) => i), 'b to a in order');
  const append: Message = { type: 'append', from: 'a', to: 'b', term: 2, index: 4, logTerm: 1, commit: 3, entries: [{ index: 5, term: 2, type: 'normal', data: Uint8Array.from([1, 2, 3]) }] };
  a.transport.send(b.peer(), append);
  await eventually(() => b.received.length === 301, 5000, 'the append delivered');
  t.strictSame(b.received[300], append, 'entries and fields arrive intact');
});

t.test('a sender reconnects after its peer restarts, and hears that it went down', async (t) => {
  const a = await node(t, 'a');
  let b = await node(t, 'b');
  const address = b.transport.address();
  a.transport.send(b.peer(), heartbeat('a', 'b', 1));
  await eventually(() => b.received.length === 1, 5000, 'first message');
  await b.transport.stop();
  await eventually(() => a.down.includes('b'), 5000, 'a hears b went down');
  b = await node(t, 'b', { bindAddr: address });
  let sent = 1;
  await eventually(
    () => {
      a.transport.send({ id: 'b', address }, heartbeat('a', 'b', ++sent));
      return b.received.length > 0;
    },
    5000,
    'a message reaches the restarted b',
  );
  t.equal(b.received[0]!.from, 'a');
});

t.test('a peer with another cluster key is refused and never delivers a message', async (t) => {
  const a = await node(t, 'a', { clusterKey: Buffer.from('key-one') });
  const b = await node(t, 'b', { clusterKey: Buffer.from('key-two') });
  const open = await node(t, 'c');
  for (let i = 0; i < 5; i++) {
    a.transport.send(b.peer(), heartbeat('a', 'b', i));
    open.transport.send(b.peer(), heartbeat('c', 'b', i));
  }
  await eventually(() => logged(b, WARN, /consensus peer a at .* refused: it holds a different cluster key/), 5000, 'b refuses a for its key');
  await eventually(() => logged(a, WARN, /refused by consensus peer b at .*cluster key does not match/), 5000, 'a hears why');
  await eventually(() => logged(b, WARN, /consensus peer c at .* refused: it holds no cluster key/), 5000, 'b refuses c, which has no key');
  await eventually(() => b.logs.filter((line) => /different cluster key/.test(line.msg)).length >= 2, 5000, 'a retried and was refused again');
  t.strictSame(b.received, [], 'b took no message from either');
  t.strictSame(b.mismatches, [], 'a wrong key is not a cluster mismatch');
});

t.test('peers with the same key pass the handshake', async (t) => {
  const key = randomBytes(32);
  const a = await node(t, 'a', { clusterKey: key });
  const b = await node(t, 'b', { clusterKey: key });
  a.transport.send(b.peer(), heartbeat('a', 'b', 7));
  await eventually(() => b.received.length === 1, 5000, 'delivered');
  t.equal(b.received[0]!.commit, 7);
});

t.test('with a cluster key, a frame altered on the way is caught and its connection dropped', async (t) => {
  const key = randomBytes(32);
  const a = await node(t, 'a', { clusterKey: key });
  const b = await node(t, 'b', { clusterKey: key });
  const [host, port] = b.transport.address().split(':') as [string, string];
  let tamper = true;
  const proxied = new Set<Socket>();
  const proxy = createServer((inbound) => {
    const outbound = connect({ host, port: Number(port) });
    proxied.add(inbound).add(outbound);
    const spoil = tamper;
    tamper = false;
    let frames = 0;
    let pending = Buffer.alloc(0);
    inbound.on('data', (chunk: Buffer) => {
      if (!spoil) return void outbound.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        const one = Buffer.from(pending.subarray(0, 4 + pending.readUInt32BE(0)));
        pending = pending.subarray(one.length);
        // Frames 0-2 are the initiator's hello, proof and admit; 3 is the first message.
        if (frames++ === 3) one[one.length - 20]! ^= 0x01;
        outbound.write(one);
      }
    });
    outbound.on('data', (chunk) => inbound.write(chunk));
    for (const socket of [inbound, outbound]) {
      socket.on('error', () => undefined);
      socket.on('close', () => (socket === inbound ? outbound : inbound).destroy());
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        proxy.close(() => resolve());
        for (const socket of proxied) socket.destroy();
      }),
  );
  const viaProxy = { id: 'b', address: `127.0.0.1:${(proxy.address() as { port: number }).port}` };
  a.transport.send(viaProxy, heartbeat('a', 'b', 1));
  await eventually(() => logged(b, WARN, /consensus peer a sent a frame that fails its integrity check/), 5000, 'b catches the altered frame');
  t.strictSame(b.received, [], 'the altered message is not delivered');
  await eventually(
    () => {
      a.transport.send(viaProxy, heartbeat('a', 'b', 2));
      return b.received.length > 0;
    },
    5000,
    'an untouched connection delivers',
  );
  t.equal(b.received[0]!.commit, 2);
});

t.test('a dialed address that answers with another node id is refused', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  a.transport.send({ id: 'x', address: b.transport.address() }, heartbeat('a', 'x', 1));
  await eventually(() => logged(a, WARN, /consensus peer b at 127\.0\.0\.1:\d+ refused: it is node b, not x, the node this one dialed there/), 5000, 'a refuses b answering as x');
  await eventually(() => a.down.includes('x'), 5000, 'x is reported down');
  t.strictSame(b.received, []);
});

t.test('a peer of another cluster is refused loudly on both sides, with a mismatch event', async (t) => {
  const a = await node(t, 'a', { clusterId: () => 'cluster-red' });
  const b = await node(t, 'b', { clusterId: () => 'cluster-blue' });
  a.transport.send(b.peer(), heartbeat('a', 'b', 1));
  await eventually(() => a.mismatches.length > 0 && b.mismatches.length > 0, 5000, 'both sides see the mismatch');
  t.match(b.mismatches[0], { id: 'a', clusterId: 'cluster-red' });
  t.match(a.mismatches[0], { id: 'b', clusterId: 'cluster-blue' });
  t.ok(logged(b, ERROR, /consensus peer a at .* belongs to cluster cluster-red, this node to cluster-blue; refusing to merge them/), 'b logs an error naming both ids');
  t.ok(logged(a, ERROR, /cluster-blue.*cluster-red/), 'a logs an error naming both ids');
  t.strictSame(b.received, []);
  const joining = await node(t, 'c', { clusterId: () => undefined });
  joining.transport.send(b.peer(), heartbeat('c', 'b', 2));
  await eventually(() => b.received.length === 1, 5000, 'a member not yet in any cluster is admitted');
});

t.test('a frame over the limit drops the connection with a warning; the next connection works', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b', { maxFrameBytes: 1024 });
  const big: Message = { type: 'append', from: 'a', to: 'b', term: 1, entries: [{ index: 1, term: 1, type: 'normal', data: new Uint8Array(4000) }] };
  a.transport.send(b.peer(), big);
  await eventually(() => logged(b, WARN, /consensus peer a sent a frame of \d+ bytes, more than the limit of 1024; dropping the connection/), 5000, 'b warns');
  await eventually(() => a.down.includes('b'), 5000, 'a sees the connection dropped');
  t.strictSame(b.received, []);
  await eventually(
    () => {
      a.transport.send(b.peer(), heartbeat('a', 'b', 1));
      return b.received.length > 0;
    },
    5000,
    'a small message still gets through',
  );
  b.transport.send(a.peer(), big);
  await eventually(() => logged(b, WARN, /append message to a is larger than the frame limit; dropped/), 5000, 'b never sends a frame over its own limit');
});

t.test('garbage on the port does not crash the node or stop it serving members', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b', { handshakeTimeoutMs: 300 });
  const [host, port] = [b.transport.address().split(':')[0]!, Number(b.transport.address().split(':')[1])];
  const payloads = [
    randomBytes(2000),
    Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
    frame(Buffer.from('{"type":"hello","protocol":1}')),
    frame(Buffer.from('not json at all')),
    frame(Buffer.from(JSON.stringify({ type: 'proof', proof: '' }))),
    Buffer.alloc(0),
  ];
  await Promise.all(
    payloads.map(
      (payload) =>
        new Promise<void>((resolve) => {
          const socket = connect({ host, port }, () => socket.write(payload));
          socket.on('error', () => undefined);
          socket.on('data', () => undefined);
          socket.on('close', () => resolve());
        }),
    ),
  );
  await eventually(() => logged(b, WARN, /did not finish the consensus handshake in time/), 5000, 'a silent connection times out');
  await eventually(() => logged(b, WARN, /broke the consensus handshake/), 5000, 'a bad hello is refused');
  await eventually(() => logged(b, WARN, /sent a frame of 4294967295 bytes/), 5000, 'a huge length prefix is refused before buffering');
  a.transport.send(b.peer(), heartbeat('a', 'b', 1));
  await eventually(() => b.received.length === 1, 5000, 'b still serves a member');
});

t.test("a message whose sender differs from the handshake's node id is dropped", async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  a.transport.send(b.peer(), heartbeat('mallory', 'b', 1));
  a.transport.send(b.peer(), heartbeat('a', 'someone-else', 2));
  a.transport.send(b.peer(), heartbeat('a', 'b', 3));
  await eventually(() => b.received.length === 1, 5000, 'the honest message arrives');
  t.equal(b.received[0]!.commit, 3);
  t.ok(logged(b, WARN, /consensus peer a sent a message from mallory to b; dropped/));
});

t.test('start fails on an address in use, naming consensus.bind_addr and the address', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const transport = new RaftTransport({ nodeId: 'a', bindAddr: `127.0.0.1:${port}`, clusterId: () => undefined, logger: pino({ level: 'silent' }) });
  await t.rejects(transport.start(), { message: new RegExp(`consensus.bind_addr 127.0.0.1:${port}: cannot listen on 127.0.0.1:${port}: the address is already in use`) });
  await transport.stop();
  const bad = new RaftTransport({ nodeId: 'a', bindAddr: 'localhost', clusterId: () => undefined, logger: pino({ level: 'silent' }) });
  await t.rejects(bad.start(), /consensus.bind_addr localhost is not host:port/);
});

t.test('stop closes every socket and timer; start and stop are idempotent', async (t) => {
  const a = await node(t, 'a');
  const b = await node(t, 'b');
  await a.transport.start();
  const bPeer = b.peer();
  a.transport.send(bPeer, heartbeat('a', 'b', 1));
  b.transport.send(a.peer(), heartbeat('b', 'a', 1));
  a.transport.send({ id: 'nobody', address: '127.0.0.1:1' }, heartbeat('a', 'nobody', 1));
  await eventually(() => a.received.length === 1 && b.received.length === 1, 5000, 'both connected');
  t.ok(socketHandles() > baselineHandles, 'sockets are open while running');
  await a.transport.stop();
  await a.transport.stop();
  await b.transport.stop();
  await eventually(() => socketHandles() === baselineHandles, 2000, 'no socket handle left');
  t.notOk(process.getActiveResourcesInfo().includes('Timeout'), 'no timer left');
  a.transport.send(bPeer, heartbeat('a', 'b', 2));
  t.equal(socketHandles(), baselineHandles, 'a stopped transport does not dial');
});

t.test('throughput on loopback', async (t) => {
  const a = await node(t, 'a', { maxQueuedMessages: 1_000_000, maxQueuedBytes: 1 << 30 });
  const b = await node(t, 'b');
  a.transport.send(b.peer(), heartbeat('a', 'b', 0));
  await eventually(() => b.received.length === 1, 5000, 'connected');
  const count = 50_000;
  let started = process.hrtime.bigint();
  for (let i = 1; i <= count; i++) a.transport.send(b.peer(), heartbeat('a', 'b', i));
  await eventually(() => b.received.length === count + 1, 20_000, 'all heartbeats');
  const heartbeatsPerSecond = count / (Number(process.hrtime.bigint() - started) / 1e9);
  const entries = Array.from({ length: 64 }, (_, i) => ({ index: i + 1, term: 1, type: 'normal' as const, data: new Uint8Array(256) }));
  const appends = 2000;
  started = process.hrtime.bigint();
  for (let i = 0; i < appends; i++) a.transport.send(b.peer(), { type: 'append', from: 'a', to: 'b', term: 1, index: 0, logTerm: 0, commit: 0, entries });
  await eventually(() => b.received.length === count + 1 + appends, 20_000, 'all appends');
  const appendsPerSecond = appends / (Number(process.hrtime.bigint() - started) / 1e9);
  started = process.hrtime.bigint();
  a.transport.send(b.peer(), { type: 'snapshot', from: 'a', to: 'b', term: 1, snapshot: { meta: { index: 1, term: 1, conf: { members: [] } }, data: new Uint8Array(32 * 1024 * 1024) } });
  await eventually(() => b.received.at(-1)?.type === 'snapshot', 20_000, 'the snapshot');
  const snapshotMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.comment(`heartbeats: ${Math.round(heartbeatsPerSecond)}/s; appends of 64 x 256 B entries: ${Math.round(appendsPerSecond)}/s; one 32 MiB snapshot: ${snapshotMs.toFixed(0)} ms`);
  t.pass('measured');
});
