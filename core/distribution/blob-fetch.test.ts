// The chunk protocol and the blob fetcher over real libp2p transports and fs stores in one process:
// bad requests answered with errors, chunks served while a blob is still being fetched, a holder
// whose file went bad on disk detected and avoided, a resumed fetch that asks only for what is
// missing, and fetchers of one blob meeting through the seed, which sends each chunk once before
// any twice. Needs `npm run build` (the hasher's compiled worker).

import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { withoutPeerId } from '../../conformance/transport/index.js';
import { loadConfig } from '../config/load.js';
import type { Transport } from '../contracts/transport.js';
import { silentLogger } from '../log.js';
import { libp2pTransport } from '../../plugins/transport-libp2p/index.js';
import { FsModelStore } from '../../plugins/storage-fs/store.js';
import { fetchBlob, type BlobProgress } from './blob-fetch.js';
import { FetchPace } from './fetch-pace.js';
import { requestChunk, requestMap } from './chunk-client.js';
import { MIB } from './chunk-map.js';
import { CHUNK_PROTOCOL, encodeFrame, FrameReader, MAX_HEADER_BYTES } from './chunk-protocol.js';
import { ChunkServer, type ChunkServerOptions } from './chunk-server.js';
import { chunkHasher } from './hasher.js';
import { openPartialBlob } from './partial-blob.js';

const config = loadConfig({ env: { OLLAMA_P2P_LISTEN: '/ip4/127.0.0.1/tcp/0', OLLAMA_API_LISTEN: '127.0.0.1:0' } }).config;
const CHUNKS = 12;
const content = randomBytes(CHUNKS * MIB - 1000);
const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
const size = content.byteLength;

const hasher = chunkHasher({ threads: 1 });
await hasher.start();
t.teardown(() => hasher.stop());

interface TestNode {
  transport: Transport;
  store: FsModelStore;
  server: ChunkServer;
}

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function node(t: Test, peers: TestNode[] = [], serving: ChunkServerOptions = {}): Promise<TestNode> {
  const dataDir = await tempDir(t, 'od-chunks-');
  const logger = silentLogger();
  const transport = libp2pTransport(config.p2p)({ logger, config, dataDir });
  await transport.start();
  t.teardown(() => transport.stop());
  const store = new FsModelStore(join(dataDir, 'models'), logger);
  await store.start();
  const server = new ChunkServer({ transport, store, hasher, logger }, { chunkSize: MIB, ...serving });
  server.start();
  t.teardown(() => server.stop());
  for (const peer of peers) await transport.dial(withoutPeerId(peer.transport.addresses()[0]!), AbortSignal.timeout(10_000));
  return { transport, store, server };
}

/** Sends raw bytes as a request and returns the answer's header. */
async function rawRequest(from: TestNode, to: TestNode, bytes: Uint8Array): Promise<unknown> {
  const stream = await from.transport.openStream(to.transport.peerId, CHUNK_PROTOCOL, AbortSignal.timeout(5000));
  await stream.write(bytes);
  await stream.closeWrite();
  return new FrameReader(stream).frame(MAX_HEADER_BYTES);
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sha256Of = async (path: string) => `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;

t.test('bad requests get error answers and the server goes on serving', async (t) => {
  const holder = await node(t);
  const asker = await node(t, [holder]);
  await holder.store.putBlobBytes(content);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(1 << 30);
  const cases: [string, Uint8Array][] = [
    ['an oversized frame', length],
    ['a frame that is not JSON', Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{{{')])],
    ['an unknown type', encodeFrame({ type: 'delete', digest })],
    ['a bad digest', encodeFrame({ type: 'map', digest: 'sha256:xyz' })],
    ['a negative index', encodeFrame({ type: 'chunk', digest, index: -1 })],
    ['an unknown digest', encodeFrame({ type: 'map', digest: `sha256:${'0'.repeat(64)}` })],
    ['an out-of-range chunk', encodeFrame({ type: 'chunk', digest, index: CHUNKS })],
    ['an unknown model', encodeFrame({ type: 'manifest', model: 'nothing:here' })],
    ['a stream cut short', Buffer.from([0, 0, 0, 40, 1, 2])],
  ];
  for (const [what, bytes] of cases) {
    const answer = (await rawRequest(asker, holder, bytes)) as { type: string; error?: string };
    t.equal(answer.type, 'error', `${what} is answered with an error (${answer.error})`);
  }
  const { map, have } = await requestMap(asker.transport, holder.transport.peerId, { digest, size });
  t.equal(map.checksums.length, CHUNKS, 'the map of a complete blob still comes');
  t.equal(have, undefined, 'a complete blob comes without a have-bitmap');
  const chunk = await requestChunk(asker.transport, holder.transport.peerId, { digest, index: 3, maxBytes: MIB, chunkCount: CHUNKS });
  t.same(chunk, content.subarray(3 * MIB, 4 * MIB), 'chunk 3 is the blob bytes at its offset');
  await t.rejects(requestMap(asker.transport, holder.transport.peerId, { digest, size: size + 1 }), /size/, 'a map for another size is refused by the asker');
});

t.test('a holder sends at most maxConcurrentChunks chunks at once; the other requests wait their turn', async (t) => {
  const holder = await node(t, [], { maxConcurrentChunks: 2 });
  const { transport, store, server } = holder;
  const asker = await node(t, [holder]);
  await store.putBlobBytes(content);
  await server.mapOf(digest);
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, server.answering)), 1);
  t.teardown(() => clearInterval(sampler));
  const chunks = await Promise.all([...Array(CHUNKS).keys()].map((i) => requestChunk(asker.transport, transport.peerId, { digest, index: i, maxBytes: MIB, chunkCount: CHUNKS })));
  clearInterval(sampler);
  t.same(Buffer.concat(chunks), content, 'every request is answered, in full');
  t.ok(most >= 1 && most <= 2, `at most 2 answers at once (${most} seen)`);
  t.equal(server.answering, 0, 'none left under way');
});

/**
 * Three nodes in a line: a source with the whole blob, a middle one whose download this test plays
 * chunk by chunk into a real partial blob it offers, and a last one connected to the middle only.
 */
async function inLine(t: Test, held: number[]) {
  const source = await node(t);
  const middle = await node(t, [source]);
  const last = await node(t, [middle]);
  await source.store.putBlobBytes(content);
  const { map } = await requestMap(middle.transport, source.transport.peerId, { digest, size });
  const partial = await openPartialBlob({ path: middle.store.blobPath(digest), map, hasher });
  t.teardown(() => partial.close());
  const writeChunk = (index: number) => partial.write(index, content.subarray(index * MIB, (index + 1) * MIB));
  for (const index of held) await writeChunk(index);
  middle.server.offer(partial);
  return { middle, last, map, partial, writeChunk };
}

t.test('a blob being fetched serves its verified chunks, and only those', async (t) => {
  const { middle: fetcher, last: third, partial } = await inLine(t, [1, 4]);
  const held = await requestMap(third.transport, fetcher.transport.peerId, { digest, size });
  const bits = [...Array(CHUNKS).keys()].filter((i) => held.have![i >> 3]! & (0x80 >> (i & 7)));
  t.same(bits, [1, 4], 'the have-bitmap lists the verified chunks');
  t.same(await requestChunk(third.transport, fetcher.transport.peerId, { digest, index: 4, maxBytes: MIB, chunkCount: CHUNKS }), content.subarray(4 * MIB, 5 * MIB));
  await t.rejects(requestChunk(third.transport, fetcher.transport.peerId, { digest, index: 2, maxBytes: MIB, chunkCount: CHUNKS }), /not verified/, 'an unverified chunk is refused');
  fetcher.server.withdraw(partial);
  await t.rejects(requestMap(third.transport, fetcher.transport.peerId, { digest, size }), /not here/, 'withdrawn, the blob is not offered');
});

t.test('a holder whose blob went bad on disk is detected and avoided; the copy completes correct', async (t) => {
  const good = await node(t);
  const bad = await node(t);
  const fetcher = await node(t, [good, bad]);
  for (const holder of [good, bad]) {
    await holder.store.putBlobBytes(content);
    t.ok(await holder.server.mapOf(digest), 'the holder maps its blob while it is sound');
  }
  // Every chunk on the bad holder goes bad after its map was made, so whichever it is asked for fails.
  const handle = await open(bad.store.blobPath(digest), 'r+');
  for (let index = 0; index < CHUNKS; index++) await handle.write(Buffer.from('garbage'), 0, 7, index * MIB + 100);
  await handle.close();

  const path = fetcher.store.blobPath(digest);
  const progress: BlobProgress[] = [];
  let visibleEarly = false;
  await fetchBlob({
    transport: fetcher.transport,
    hasher,
    logger: silentLogger(),
    path,
    digest,
    size,
    holders: [bad.transport.peerId, good.transport.peerId],
    onProgress: (p) => {
      progress.push(p);
      if (p.done < size && existsSync(path)) visibleEarly = true;
    },
  });
  t.equal(await sha256Of(path), digest, 'the fetched blob has the right sha256');
  t.notOk(visibleEarly, 'no blob was visible before every chunk was verified');
  const last = progress.at(-1)!;
  t.same(last.holders, [good.transport.peerId], 'the bad holder is no longer asked');
  t.ok(last.fetched > size, `the bad chunks were fetched again elsewhere (${last.fetched} bytes for ${size})`);
  t.notOk(existsSync(`${path}-partial`), 'no partial is left');
});

t.test('a fetch from a node still fetching takes its chunks as they are verified there', async (t) => {
  const { middle, last, map, partial, writeChunk } = await inLine(t, [0, 1, 2, 3]);

  let done = 0;
  const path = last.store.blobPath(digest);
  const fetching = fetchBlob({ transport: last.transport, hasher, logger: silentLogger(), path, digest, size, holders: [middle.transport.peerId], refreshMs: 50, onProgress: (p) => (done = p.done) });
  await waitFor(() => done === 4 * MIB, 'the last node has the four chunks the middle one holds');
  for (let index = 4; index < CHUNKS; index++) {
    await writeChunk(index);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await fetching;
  t.equal(await sha256Of(path), digest, 'the blob fetched from a node that was still fetching is whole and right');

  const other = await node(t, [middle]);
  middle.server.withdraw(partial);
  const stalled = await openPartialBlob({ path: join(await tempDir(t, 'od-stalled-'), 'blob'), map, hasher });
  t.teardown(() => stalled.close());
  await stalled.write(0, content.subarray(0, MIB));
  middle.server.offer(stalled);
  const began = Date.now();
  await t.rejects(
    fetchBlob({ transport: other.transport, hasher, logger: silentLogger(), path: other.store.blobPath(digest), digest, size, holders: [middle.transport.peerId], refreshMs: 50, stallMs: 300 }),
    /held by no holder left/,
    'a fetch whose only holder stops gaining chunks gives up',
  );
  t.ok(Date.now() - began < 5000, 'within its stall limit');
});

/** A node holding half the blob (chunks 0–5, gaining no more), one holding it whole, and a fetcher connected to both. */
async function halfAndWhole(t: Test) {
  const whole = await node(t);
  await whole.store.putBlobBytes(content);
  const half = await node(t, [whole]);
  const { map } = await requestMap(half.transport, whole.transport.peerId, { digest, size });
  const partial = await openPartialBlob({ path: half.store.blobPath(digest), map, hasher });
  t.teardown(() => partial.close());
  for (let index = 0; index < CHUNKS / 2; index++) await partial.write(index, content.subarray(index * MIB, (index + 1) * MIB));
  half.server.offer(partial);
  const fetcher = await node(t, [whole, half]);
  return { whole, half, fetcher };
}

t.test('a holder found while the fetch runs is asked for chunks too', async (t) => {
  const { whole, half, fetcher } = await halfAndWhole(t);
  let lookups = 0;
  const progress: BlobProgress[] = [];
  const path = fetcher.store.blobPath(digest);
  await fetchBlob({
    transport: fetcher.transport,
    hasher,
    logger: silentLogger(),
    path,
    digest,
    size,
    holders: [half.transport.peerId],
    findHolders: async () => (lookups++, [half.transport.peerId, whole.transport.peerId]),
    discoverMs: 20,
    refreshMs: 50,
    stallMs: 5000,
    onProgress: (p) => progress.push(p),
  });
  t.equal(await sha256Of(path), digest, 'the blob is whole and right');
  t.ok(lookups >= 1, `holders were looked for during the fetch (${lookups} lookups)`);
  t.ok(progress.at(-1)!.holders.includes(whole.transport.peerId), 'the holder found meanwhile was asked');
});

t.test('a fetch whose holders ran out looks once more before it gives up', async (t) => {
  const { whole, half, fetcher } = await halfAndWhole(t);
  const path = fetcher.store.blobPath(digest);
  const began = Date.now();
  const lookup = { holders: [whole.transport.peerId], count: 0 };
  const options = { transport: fetcher.transport, hasher, logger: silentLogger(), path, digest, size, holders: [half.transport.peerId], discoverMs: 60_000, refreshMs: 50, stallMs: 300 };
  await fetchBlob({ ...options, findHolders: async () => (lookup.count++, lookup.holders) });
  t.equal(await sha256Of(path), digest, 'the holder found by the last lookup completed the blob');
  t.equal(lookup.count, 1, 'one lookup, once the only holder stopped gaining chunks');
  t.ok(Date.now() - began < 5000, 'well before the periodic lookup would have run');
  await rm(path);
  lookup.holders = [];
  await t.rejects(fetchBlob({ ...options, findHolders: async () => lookup.holders }), /held by no holder left/, 'a lookup that finds no one new ends the fetch');
});

t.test('an interrupted fetch resumes from its verified chunks', async (t) => {
  const holder = await node(t);
  const fetcher = await node(t, [holder]);
  await holder.store.putBlobBytes(content);
  const path = fetcher.store.blobPath(digest);
  const options = { transport: fetcher.transport, hasher, logger: silentLogger(), path, digest, size, holders: [holder.transport.peerId], maxInFlightPerPeer: 1 };
  const stop = new AbortController();
  let before = 0;
  await t.rejects(
    fetchBlob({
      ...options,
      signal: stop.signal,
      onProgress: (p) => {
        before = p.done;
        if (p.done >= 4 * MIB) stop.abort(new Error('interrupted'));
      },
    }),
    /interrupted/,
  );
  t.notOk(existsSync(path), 'an interrupted fetch leaves no blob');
  t.ok(before >= 4 * MIB && before < size, `part of the blob was verified first (${before} bytes)`);
  let fetched = 0;
  let kept = -1;
  await fetchBlob({
    ...options,
    onProgress: (p) => {
      kept = p.kept;
      fetched = p.fetched;
    },
  });
  t.equal(await sha256Of(path), digest, 'the resumed blob has the right sha256');
  t.equal(kept, before, `the second fetch starts from the chunks verified before (${kept} bytes)`);
  t.equal(fetched, size - kept, 'only the missing chunks were fetched');
});

t.test('a fetch under a rate cap takes at least size / rate', async (t) => {
  const holder = await node(t);
  await holder.store.putBlobBytes(content);
  const fetcher = await node(t, [holder]);
  const rate = 4 * MIB;
  const pace = new FetchPace(rate);
  const began = Date.now();
  await fetchBlob({ transport: fetcher.transport, hasher, logger: silentLogger(), path: fetcher.store.blobPath(digest), digest, size, holders: [holder.transport.peerId], pace });
  const took = Date.now() - began;
  t.equal(await sha256Of(fetcher.store.blobPath(digest)), digest, 'the capped blob has the right sha256');
  t.ok(took >= (size / rate) * 1000, `${size} bytes at ${rate} B/s took ${took} ms, at least ${Math.round((size / rate) * 1000)} ms`);
  t.ok(took < (size / rate) * 1000 * 2, 'and not twice as long: the cap paces, it does not stall');
});

t.test('nodes fetching the same blob from one holder meet through its answers and fetch from each other', async (t) => {
  const seed = await node(t);
  await seed.store.putBlobBytes(content);
  const a = await node(t, [seed]);
  const b = await node(t, [seed, a]);
  const seenHolders = new Map<string, Set<string>>([
    [a.transport.peerId, new Set()],
    [b.transport.peerId, new Set()],
  ]);
  // Paced, so that each fetch lasts long enough for the other's chunks to matter; no lookup is offered.
  const fetchInto = (fetcher: TestNode) => {
    const path = fetcher.store.blobPath(digest);
    const pace = new FetchPace(4 * MIB);
    const fetching = fetchBlob({ transport: fetcher.transport, hasher, logger: silentLogger(), path, digest, size, holders: [seed.transport.peerId], server: fetcher.server, pace, refreshMs: 100, onProgress: (p) => p.holders.forEach((h) => seenHolders.get(fetcher.transport.peerId)!.add(h)) });
    return fetching.then(() => sha256Of(path));
  };
  t.same(await Promise.all([fetchInto(a), fetchInto(b)]), [digest, digest], 'both blobs are whole and right');
  t.ok(seenHolders.get(a.transport.peerId)!.has(b.transport.peerId), 'a took b as a holder, told of it by the seed');
  t.ok(seenHolders.get(b.transport.peerId)!.has(a.transport.peerId), 'b took a as a holder');
});

t.test('a seed sends every chunk once before any twice: asked for one another fetcher got, it points there', async (t) => {
  const seed = await node(t);
  await seed.store.putBlobBytes(content);
  // The seed's answers, read off its streams: the header frame each answer starts with.
  const answers: { type: string; index: number }[] = [];
  seed.server.stop();
  const watched = new ChunkServer(
    {
      transport: {
        handle: (protocol, handler) =>
          seed.transport.handle(protocol, (stream) => {
            let first = true;
            return handler({
              peerId: stream.peerId,
              protocol: stream.protocol,
              write: (bytes: Uint8Array, signal?: AbortSignal) => {
                if (first) answers.push(JSON.parse(Buffer.from(bytes.subarray(4)).toString()) as { type: string; index: number });
                first = false;
                return stream.write(bytes, signal);
              },
              closeWrite: () => stream.closeWrite(),
              abort: (error: Error) => stream.abort(error),
              [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
            });
          }),
        unhandle: (protocol) => seed.transport.unhandle(protocol),
      },
      store: seed.store,
      hasher,
      logger: silentLogger(),
    },
    { chunkSize: MIB },
  );
  watched.start();
  t.teardown(() => watched.stop());
  const a = await node(t, [seed]);
  const b = await node(t, [seed, a]);
  const fetchInto = (fetcher: TestNode) => {
    const path = fetcher.store.blobPath(digest);
    const pace = new FetchPace(4 * MIB);
    return fetchBlob({ transport: fetcher.transport, hasher, logger: silentLogger(), path, digest, size, holders: [seed.transport.peerId], server: fetcher.server, pace, refreshMs: 100 }).then(() => sha256Of(path));
  };
  t.same(await Promise.all([fetchInto(a), fetchInto(b)]), [digest, digest], 'both blobs are whole and right');
  // The last chunk is short of 1 MiB, which costs less to send twice than to wait for.
  const full = CHUNKS - 1;
  const sent = answers.filter((answer) => answer.type === 'chunk' && answer.index < full).map((answer) => answer.index);
  // Every chunk starts at the seed, so its first chunks sent are all of them when none went twice.
  t.equal(new Set(sent.slice(0, full)).size, full, `no full chunk was sent twice before every one went out once (${sent.join(' ')})`);
  t.comment(`the seed pointed ${answers.filter((answer) => answer.type === 'elsewhere').length} requests to the other fetcher`);
});
