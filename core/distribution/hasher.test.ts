// The chunk hasher against hash-wasm and node:crypto called directly, and its lifecycle. Needs
// `npm run build` (dist/core/distribution/chunk-hash-worker.js).

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xxhash3, xxhash64 } from 'hash-wasm';
import t from 'tap';
import { MIB, type ChunkMap } from './chunk-map.js';
import { chunkHasher, defaultHashThreads } from './hasher.js';

const workers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Worker' || resource === 'MessagePort');

/** The map computed without the hasher: node:crypto for the digest, hash-wasm per chunk. */
async function independentMap(bytes: Uint8Array, chunkSize: number): Promise<ChunkMap> {
  const checksums: string[] = [];
  for (let start = 0; start < bytes.byteLength; start += chunkSize) checksums.push(await xxhash64(bytes.subarray(start, start + chunkSize)));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { digest, size: bytes.byteLength, chunkSize, algorithm: 'xxh64', checksums };
}

t.test('checksums, verification and file maps', async (t) => {
  const hasher = chunkHasher({ threads: 2 });
  t.teardown(() => hasher.stop());
  await hasher.start();
  const bytes = randomBytes(5 * MIB + 12345);

  t.test('checksums equal hash-wasm called directly, in order, for both algorithms', async (t) => {
    const chunkSize = MIB;
    const xxh64Expected = await Promise.all(Array.from({ length: 6 }, (_, i) => xxhash64(bytes.subarray(i * chunkSize, (i + 1) * chunkSize))));
    t.same(await hasher.checksums(bytes, chunkSize), xxh64Expected, 'xxh64 (default), split over two workers');
    const xxh3Expected = await Promise.all(Array.from({ length: 6 }, (_, i) => xxhash3(bytes.subarray(i * chunkSize, (i + 1) * chunkSize))));
    t.same(await hasher.checksums(bytes, chunkSize, { algorithm: 'xxh3' }), xxh3Expected, 'xxh3');
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
    shared.set(bytes);
    t.same(await hasher.checksums(shared, chunkSize), xxh64Expected, 'bytes in shared memory');
    const view = bytes.subarray(chunkSize, 2 * chunkSize + 7);
    t.same(await hasher.checksums(view, chunkSize), [await xxhash64(view.subarray(0, chunkSize)), await xxhash64(view.subarray(chunkSize))], 'a view into a larger buffer hashes only its bytes');
    t.same(await hasher.checksums(new Uint8Array(0), chunkSize), [], 'no bytes, no chunks');
  });

  t.test('the map of a file equals one computed independently', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'od-hasher-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    for (const [name, content, chunkSize] of [
      ['odd', bytes, MIB],
      ['exact', bytes.subarray(0, 4 * MIB), 2 * MIB],
      ['small', bytes.subarray(0, 100), MIB],
      ['empty', bytes.subarray(0, 0), MIB],
    ] as const) {
      const path = join(dir, name);
      await writeFile(path, content);
      t.same(await hasher.mapOfFile(path, chunkSize), await independentMap(content, chunkSize), `${name} (${content.byteLength} bytes)`);
    }
    await t.rejects(hasher.mapOfFile(join(dir, 'odd'), MIB - 1), RangeError, 'a chunk size under 1 MiB is refused');
    await t.rejects(hasher.mapOfFile(join(dir, 'missing'), MIB), { code: 'ENOENT' }, 'a missing file');
  });

  t.test('a corrupted byte fails verifyChunk', async (t) => {
    const map = await independentMap(bytes, MIB);
    const last = map.checksums.length - 1;
    t.ok(await hasher.verifyChunk(map, 2, bytes.subarray(2 * MIB, 3 * MIB)), 'a good chunk verifies');
    t.ok(await hasher.verifyChunk(map, last, bytes.subarray(last * MIB)), 'the short last chunk verifies');
    const corrupted = Buffer.from(bytes.subarray(2 * MIB, 3 * MIB));
    corrupted[777]! ^= 0x01;
    t.notOk(await hasher.verifyChunk(map, 2, corrupted), 'one flipped bit fails');
    t.notOk(await hasher.verifyChunk(map, 3, bytes.subarray(2 * MIB, 3 * MIB)), 'another chunk’s bytes fail');
    t.notOk(await hasher.verifyChunk(map, 2, bytes.subarray(2 * MIB, 3 * MIB - 1)), 'a truncated chunk fails');
    await t.rejects(hasher.verifyChunk(map, last + 1, bytes), RangeError, 'a chunk outside the map');
  });
});

t.test('lifecycle: idempotent start and stop, no worker left behind', async (t) => {
  const before = workers().length;
  const hasher = chunkHasher();
  t.teardown(() => hasher.stop());
  t.equal(hasher.threads, defaultHashThreads(), 'cores − 1 threads by default');
  t.equal(hasher.algorithm, 'xxh64');
  await hasher.stop();
  await t.rejects(hasher.checksums(new Uint8Array(10), MIB), { code: 'OD_ERR_INTERNAL' }, 'refuses work before start');
  await hasher.start();
  await hasher.start();
  t.ok(workers().length > before, 'workers run once started');
  t.same(await hasher.checksums(new Uint8Array(10), MIB), [await xxhash64(new Uint8Array(10))]);
  await hasher.stop();
  await hasher.stop();
  t.equal(workers().length, before, 'no worker left after stop');
  t.throws(() => chunkHasher({ threads: 0 }), RangeError, 'threads below 1 are refused');
});
