// The transport conformance suite: the Transport contract over real sockets on 127.0.0.1. An
// implementation's test file calls `transportConformance(t, { setup, teardown })` once.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Startable } from '../../core/contracts/plugin.js';
import type { PeerEvent, PeerStream, Transport } from '../../core/contracts/transport.js';
import { freePort } from '../fixtures/free-port.js';

export type ConformanceTransport = Transport & Startable;

export interface TransportHooks {
  /** A new, unstarted transport listening on 127.0.0.1 with its identity in `dataDir`. */
  setup(options: { dataDir: string }): Promise<ConformanceTransport>;
  teardown?(transport: ConformanceTransport): Promise<void>;
}

const ECHO = '/conformance/echo/1.0.0';
const DIGEST = '/conformance/digest/1.0.0';
const HOLD = '/conformance/hold/1.0.0';
const MiB = 1024 * 1024;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds, or fails the wait after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(25);
  }
}

export function withoutPeerId(address: string): string {
  return address.replace(/\/p2p\/[^/]+$/, '');
}

export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Reads the stream to its end, hashing as it goes, then answers with the sha256 hex. */
async function answerDigest(stream: PeerStream): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  await stream.write(Buffer.from(hash.digest('hex')));
  await stream.closeWrite();
}

async function writeAll(stream: PeerStream, bytes: Buffer, chunkSize: number): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += chunkSize) await stream.write(bytes.subarray(offset, offset + chunkSize));
}

/** Resources that would keep a process alive: sockets, servers and timers. */
function liveHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap' || kind === 'Timeout').length;
}

export function transportConformance(t: Test, hooks: TransportHooks): void {
  const dirs: string[] = [];
  const made: ConformanceTransport[] = [];
  const newDataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'od-transport-'));
    dirs.push(dir);
    return dir;
  };
  const create = async (dataDir = newDataDir()) => {
    const transport = await hooks.setup({ dataDir });
    made.push(transport);
    return transport;
  };
  const started = async (dataDir?: string) => {
    const transport = await create(dataDir);
    await transport.start();
    return transport;
  };
  /** Two started transports, the second dialed to the first by its address without /p2p. */
  const pair = async () => {
    const a = await started();
    const b = await started();
    await b.dial(withoutPeerId(a.addresses()[0]!), AbortSignal.timeout(10_000));
    await eventually(() => a.peers().some((p) => p.peerId === b.peerId), 5000, 'the dialed side admits the dialer');
    return [a, b] as const;
  };

  t.afterEach(async () => {
    for (const transport of made.splice(0)) {
      await transport.stop();
      await hooks.teardown?.(transport);
    }
  });
  t.teardown(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  t.test('start and stop are idempotent and stop leaves no socket or timer', async (t) => {
    const before = liveHandles();
    const transport = await create();
    await transport.stop();
    await Promise.all([transport.start(), transport.start()]);
    t.ok(transport.addresses().length > 0, 'a started transport has addresses');
    t.match(transport.addresses()[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/[1-9]\\d*/p2p/${transport.peerId}$`), 'a bound port and the peer id');
    t.ok(liveHandles() > before, 'a running transport holds sockets');
    await Promise.all([transport.stop(), transport.stop()]);
    await transport.stop();
    await eventually(() => liveHandles() <= before, 1500, 'sockets and timers are gone after stop');
    t.pass('nothing is left behind');
  });

  t.test('the peer id survives a restart on the same data dir, and differs on another', async (t) => {
    const dataDir = newDataDir();
    const first = await started(dataDir);
    const id = first.peerId;
    await first.stop();
    const again = await started(dataDir);
    t.equal(again.peerId, id, 'same data dir, same peer id');
    const other = await started();
    t.not(other.peerId, id, 'another data dir, another peer id');
  });

  t.test('dial by address without /p2p admits both sides and fires connected', async (t) => {
    const a = await started();
    const b = await started();
    const seen: PeerEvent[] = [];
    a.onPeerEvent((event) => seen.push(event));
    t.same(a.peers(), [], 'no peers before the dial');
    await b.dial(withoutPeerId(a.addresses()[0]!), AbortSignal.timeout(10_000));
    t.same(b.peers().map((p) => p.peerId), [a.peerId], 'the dialer lists the dialed peer once dial resolves');
    await eventually(() => seen.length > 0, 5000, 'the dialed side fires connected');
    t.same(seen, [{ type: 'connected', peerId: b.peerId }]);
    t.same(a.peers().map((p) => p.peerId), [b.peerId]);
  });

  t.test('streams carry bytes both ways', async (t) => {
    const [a, b] = await pair();
    a.handle(ECHO, async (stream) => {
      for await (const chunk of stream) await stream.write(chunk);
      await stream.closeWrite();
    });
    const stream = await b.openStream(a.peerId, ECHO, AbortSignal.timeout(5000));
    t.equal(stream.peerId, a.peerId);
    t.equal(stream.protocol, ECHO);
    const sent = randomBytes(3 * MiB + 17);
    const [echoed] = await Promise.all([
      readAll(stream),
      (async () => {
        for (let offset = 0; offset < sent.length; ) {
          const size = 1 + Math.floor(Math.random() * 100_000);
          await stream.write(sent.subarray(offset, offset + size));
          offset += size;
        }
        await stream.closeWrite();
      })(),
    ]);
    t.equal(echoed.length, sent.length, 'every byte comes back');
    t.ok(echoed.equals(sent), 'in order and unchanged');
  });

  t.test('a reader that does not read holds the writer back, then gets every byte', async (t) => {
    const [a, b] = await pair();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    a.handle(HOLD, async (stream) => {
      await released;
      await answerDigest(stream);
    });
    const stream = await b.openStream(a.peerId, HOLD, AbortSignal.timeout(5000));
    const total = 48 * MiB;
    const bytes = randomBytes(total);
    let accepted = 0;
    let blocked = false;
    while (accepted < total && !blocked) {
      const write = stream.write(bytes.subarray(accepted, accepted + 64 * 1024)).then(() => true);
      blocked = !(await Promise.race([write, sleep(500).then(() => false)]));
      if (!blocked) accepted += 64 * 1024;
      else {
        release();
        await write;
        accepted += 64 * 1024;
      }
    }
    t.ok(blocked, `writes stall while the reader does not read (stalled after ${(accepted / MiB).toFixed(1)} MiB)`);
    t.ok(accepted < 24 * MiB, 'after a bounded amount of buffered bytes');
    await writeAll(stream, bytes.subarray(accepted), 64 * 1024);
    await stream.closeWrite();
    const digest = (await readAll(stream)).toString();
    t.equal(digest, createHash('sha256').update(bytes).digest('hex'), 'everything arrives intact once the reader reads');
  });

  t.test('64 MiB over one stream arrives intact', async (t) => {
    const [a, b] = await pair();
    a.handle(DIGEST, answerDigest);
    const bytes = randomBytes(64 * MiB);
    const expected = createHash('sha256').update(bytes).digest('hex');
    const stream = await b.openStream(a.peerId, DIGEST, AbortSignal.timeout(5000));
    const began = process.hrtime.bigint();
    await writeAll(stream, bytes, 256 * 1024);
    await stream.closeWrite();
    const digest = (await readAll(stream)).toString();
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    t.equal(digest, expected, 'the receiver hashes the same 64 MiB');
    t.comment(`64 MiB over one stream: ${(64 / seconds).toFixed(0)} MiB/s (${(seconds * 1000).toFixed(0)} ms)`);
  });

  t.test('gossip reaches a subscriber, with the publisher as its sender', async (t) => {
    const [a, b] = await pair();
    const topic = `/conformance/${randomBytes(4).toString('hex')}`;
    const got: { from: string; data: string }[] = [];
    const unsubscribe = a.subscribe(topic, (message) => got.push({ from: message.from, data: Buffer.from(message.data).toString() }));
    await eventually(
      async () => {
        await b.publish(topic, Buffer.from('hello'));
        return got.length > 0;
      },
      10_000,
      'a published message arrives',
    );
    t.same(got[0], { from: b.peerId, data: 'hello' });
    unsubscribe();
    const count = got.length;
    await b.publish(topic, Buffer.from('after'));
    await sleep(300);
    t.equal(got.length, count, 'an unsubscribed listener hears nothing more');
  });

  t.test('provide makes a peer findable by key', async (t) => {
    const [a, b] = await pair();
    const key = `sha256:${randomBytes(32).toString('hex')}`;
    await b.provide(key, AbortSignal.timeout(10_000));
    let found: string[] = [];
    await eventually(
      async () => {
        found = [];
        for await (const provider of a.findProviders(key, AbortSignal.timeout(3000))) found.push(provider.peerId);
        return found.includes(b.peerId);
      },
      10_000,
      'the provider is found',
    );
    t.ok(found.includes(b.peerId), 'the providing peer is among the providers');
  });

  t.test('hangUp fires disconnected on both sides and empties peers()', async (t) => {
    const [a, b] = await pair();
    const onA: PeerEvent[] = [];
    const onB: PeerEvent[] = [];
    a.onPeerEvent((event) => onA.push(event));
    b.onPeerEvent((event) => onB.push(event));
    await a.hangUp(b.peerId, AbortSignal.timeout(5000));
    await eventually(() => onA.length > 0 && onB.length > 0, 2000, 'both sides see the disconnect');
    t.same(onA, [{ type: 'disconnected', peerId: b.peerId }]);
    t.same(onB, [{ type: 'disconnected', peerId: a.peerId }]);
    t.same(a.peers(), []);
    t.same(b.peers(), []);
    await t.rejects(b.openStream(a.peerId, ECHO, AbortSignal.timeout(2000)), 'no stream to a peer that is gone');
  });

  t.test('a peer that stops is disconnected at once', async (t) => {
    const [a, b] = await pair();
    const events: PeerEvent[] = [];
    a.onPeerEvent((event) => events.push(event));
    const stopped = Date.now();
    await b.stop();
    await eventually(() => events.length > 0, 1000, 'disconnected within a second');
    t.same(events, [{ type: 'disconnected', peerId: b.peerId }]);
    t.comment(`disconnected ${Date.now() - stopped} ms after the peer stopped`);
  });

  t.test('a dial to a dead port or a silent listener fails within its signal', async (t) => {
    const a = await started();
    const dead = await freePort();
    let began = Date.now();
    await t.rejects(a.dial(`/ip4/127.0.0.1/tcp/${dead}`, AbortSignal.timeout(1000)), 'nothing listens');
    t.ok(Date.now() - began < 1500, 'the refused dial fails within the timeout');

    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    began = Date.now();
    await t.rejects(a.dial(`/ip4/127.0.0.1/tcp/${port}`, AbortSignal.timeout(1000)), 'a listener that never answers');
    const took = Date.now() - began;
    t.ok(took >= 900 && took < 2000, `the dial gives up when its signal fires (${took} ms)`);
  });

  t.test('openStream to a peer that is not connected is refused', async (t) => {
    const a = await started();
    const b = await started();
    b.handle(ECHO, async (stream) => stream.closeWrite());
    await t.rejects(a.openStream(b.peerId, ECHO, AbortSignal.timeout(2000)));
  });
}
