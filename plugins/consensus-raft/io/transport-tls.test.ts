// Consensus links under mutual TLS, with certificates from `certs init`: members of one CA talk,
// a member signed by another CA and a member speaking plain TCP deliver nothing.

import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { makeCerts, type NodeCert } from '../../../conformance/fixtures/certs.js';
import { eventually } from '../../../conformance/transport/index.js';
import type { Message } from '../core/types.js';
import { RaftTransport, type RaftTransportOptions } from './transport.js';

interface Member {
  transport: RaftTransport;
  received: Message[];
  logs: { msg: string }[];
  peer(): { id: string; address: string };
}

async function member(t: Test, id: string, cert: NodeCert | undefined, options: Partial<RaftTransportOptions> = {}): Promise<Member> {
  const logs: { msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
  const tls = cert ? { tls: { cert: cert.cert, key: cert.key, ca: cert.ca } } : {};
  const transport = new RaftTransport({ nodeId: id, bindAddr: '127.0.0.1:0', clusterId: () => 'cluster-1', logger, backoff: { firstMs: 20, maxMs: 100 }, ...tls, ...options });
  const m: Member = { transport, received: [], logs, peer: () => ({ id, address: transport.address() }) };
  transport.onMessage((message) => m.received.push(message));
  await transport.start();
  t.teardown(() => transport.stop());
  return m;
}

const heartbeat = (from: string, to: string, commit: number): Message => ({ type: 'heartbeat', from, to, term: 1, commit });
const refusedTls = (m: Member) => m.logs.filter((line) => line.msg === 'consensus TLS handshake refused').length;

const cluster = await makeCerts(['a', 'b', 'c']);
const stranger = await makeCerts(['a']);
t.teardown(() => Promise.all([rm(cluster.dir, { recursive: true, force: true }), rm(stranger.dir, { recursive: true, force: true })]));

t.test('members with certificates of one CA exchange messages both ways', async (t) => {
  const a = await member(t, 'a', await cluster.node('a'));
  const b = await member(t, 'b', await cluster.node('b'));
  for (let i = 0; i < 50; i++) {
    a.transport.send(b.peer(), heartbeat('a', 'b', i));
    b.transport.send(a.peer(), heartbeat('b', 'a', i));
  }
  await eventually(() => a.received.length === 50 && b.received.length === 50, 5000, 'all delivered');
  t.strictSame(b.received.map((m) => m.commit), [...Array(50).keys()], 'in order');
});

/** Sends from `sender` to `b` until b has refused its TLS handshake twice; b takes no message. */
async function refusedByB(t: Test, sender: Member, b: Member, from: string): Promise<void> {
  let sent = 0;
  await eventually(
    () => {
      sender.transport.send(b.peer(), heartbeat(from, 'b', sent++));
      return refusedTls(b) >= 2;
    },
    5000,
    'b refuses the TLS handshake, more than once',
  );
  t.strictSame(b.received, [], 'nothing reached consensus');
}

t.test("a member whose certificate another CA signed is refused, and delivers nothing", async (t) => {
  const b = await member(t, 'b', await cluster.node('b'));
  await refusedByB(t, await member(t, 'a', await stranger.node('a')), b, 'a');
});

t.test('a member speaking plain TCP to a TLS member is refused', async (t) => {
  const b = await member(t, 'b', await cluster.node('b'));
  await refusedByB(t, await member(t, 'c', undefined), b, 'c');
});

t.test('a TLS member cannot be reached by a plain listener pretending to be a member', async (t) => {
  const a = await member(t, 'a', await cluster.node('a'));
  const plainB = await member(t, 'b', undefined);
  for (let i = 0; i < 20; i++) a.transport.send(plainB.peer(), heartbeat('a', 'b', i));
  await eventually(() => plainB.logs.some((line) => /refused|malformed|failed/.test(line.msg)), 5000, 'the plain side sees a broken handshake');
  t.strictSame(plainB.received, [], 'a sent nothing in the clear');
});
