// A partial blob on disk: resume after a crash from verified chunks only, refusal of bad bytes,
// nothing at the blob's path before finish. Needs `npm run build` (the hasher's compiled worker).

import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xxhash64 } from 'hash-wasm';
import t, { type Test } from 'tap';
import { MIB, type ChunkMap } from './chunk-map.js';
import { chunkHasher } from './hasher.js';
import { openPartialBlob } from './partial-blob.js';

const chunkSize = MIB;
const content = randomBytes(5 * MIB + 777);
const chunks = Array.from({ length: 6 }, (_, i) => content.subarray(i * chunkSize, (i + 1) * chunkSize));
const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
const map: ChunkMap = { digest, size: content.byteLength, chunkSize, algorithm: 'xxh64', checksums: await Promise.all(chunks.map((c) => xxhash64(c))) };

const exists = (path: string) => stat(path).then(() => true, () => false);

t.test('partial blobs', async (t) => {
  const hasher = chunkHasher({ threads: 1 });
  t.teardown(() => hasher.stop());
  await hasher.start();
  const store = async (t: Test) => {
    const dir = await mkdtemp(join(tmpdir(), 'od-partial-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    return join(dir, `sha256-${digest.slice(7)}`);
  };

  t.test('chunks in any order, concurrently; the blob appears only at finish', async (t) => {
    const path = await store(t);
    const blob = await openPartialBlob({ path, map, hasher });
    t.teardown(() => blob.close());
    t.same(blob.verifiedChunks(), []);
    await Promise.all([5, 2, 0, 3].map((i) => blob.write(i, chunks[i]!)));
    t.same(blob.verifiedChunks(), [0, 2, 3, 5]);
    t.notOk(await exists(path), 'nothing at the blob path yet');
    t.same(await blob.read(5), chunks[5], 'a verified chunk is served');
    await t.rejects(blob.read(1), { code: 'OD_ERR_BLOB_NOT_FOUND', message: /chunk 1 .* not verified/ }, 'an unverified chunk is not');
    await t.rejects(blob.finish(), { message: /2 chunks .* not verified/ }, 'finish refuses with chunks missing');
    await Promise.all([blob.write(1, chunks[1]!), blob.write(4, chunks[4]!), blob.write(4, chunks[4]!)]);
    t.notOk(await exists(path), 'still nothing before finish');
    await blob.finish();
    t.same(await readFile(path), content, 'the finished blob has every byte');
    t.same((await readdir(join(path, '..'))).sort(), [`sha256-${digest.slice(7)}`], 'no partial, sidecar or temporary left');
    await t.rejects(blob.write(0, chunks[0]!), { code: 'OD_ERR_INTERNAL' }, 'a finished partial takes no more writes');
  });

  t.test('corrupt bytes are refused and nothing is marked', async (t) => {
    const path = await store(t);
    const blob = await openPartialBlob({ path, map, hasher });
    t.teardown(() => blob.close());
    const bad = Buffer.from(chunks[2]!);
    bad[12345]! ^= 0x40;
    await t.rejects(blob.write(2, bad), { code: 'OD_ERR_DIGEST_MISMATCH', message: /chunk 2 / });
    await t.rejects(blob.write(2, chunks[2]!.subarray(1)), { code: 'OD_ERR_DIGEST_MISMATCH' }, 'a short chunk');
    await t.rejects(blob.write(3, chunks[2]!), { code: 'OD_ERR_DIGEST_MISMATCH' }, 'another chunk’s bytes');
    t.same(blob.verifiedChunks(), []);
    const onDisk = await readFile(`${path}-partial`);
    t.ok(onDisk.subarray(2 * chunkSize, 3 * chunkSize).every((byte) => byte === 0), 'the refused bytes were not written');
  });

  t.test('resume after a crash: verified chunks kept, a chunk damaged on disk fetched again', async (t) => {
    const path = await store(t);
    const first = await openPartialBlob({ path, map, hasher });
    await Promise.all([0, 1, 4, 5].map((i) => first.write(i, chunks[i]!)));
    // Bytes written but never verified (a crash mid-chunk) must not count on resume.
    const raw = await open(`${path}-partial`, 'r+');
    await raw.write(chunks[2]!.subarray(0, 1000), 0, 1000, 2 * chunkSize);
    // Bit rot in a verified chunk while the node was down.
    await raw.write(Uint8Array.of(chunks[4]![10]! ^ 0xff), 0, 1, 4 * chunkSize + 10);
    await raw.close();
    // The crash: the first instance is never closed; a new one opens the same files.
    const second = await openPartialBlob({ path, map, hasher });
    t.teardown(async () => {
      await first.close();
      await second.close();
    });
    t.same(second.verifiedChunks(), [0, 1, 5], 'chunk 4 no longer matches and is missing again');
    const sidecar = JSON.parse(await readFile(`${path}-partial.chunks`, 'utf8')) as { verified: string };
    t.same([...Buffer.from(sidecar.verified, 'base64')], [0b1100_0100], 'the sidecar was rewritten without chunk 4');
    for (const i of [2, 3, 4]) await second.write(i, chunks[i]!);
    await second.finish();
    t.same(await readFile(path), content);
  });

  t.test('a damaged or foreign sidecar resumes nothing', async (t) => {
    const path = await store(t);
    const blob = await openPartialBlob({ path, map, hasher });
    await blob.write(0, chunks[0]!);
    await blob.close();
    await writeFile(`${path}-partial.chunks`, '{"digest": "sha256:');
    const damaged = await openPartialBlob({ path, map, hasher });
    t.same(damaged.verifiedChunks(), [], 'unparsable');
    await damaged.write(0, chunks[0]!);
    await damaged.close();
    const other = await openPartialBlob({ path, map: { ...map, chunkSize: 2 * MIB, checksums: ['0'.repeat(16), '0'.repeat(16), '0'.repeat(16)] }, hasher });
    t.same(other.verifiedChunks(), [], 'a sidecar of another chunk size');
    await other.discard();
    t.notOk(await exists(`${path}-partial`), 'discard removes the partial');
    t.notOk(await exists(`${path}-partial.chunks`), 'and the sidecar');
  });

  t.test('chunks that pass but a whole digest that does not: removed, never at the blob path', async (t) => {
    const path = await store(t);
    const forged: ChunkMap = { ...map, digest: `sha256:${'0'.repeat(64)}` };
    const blob = await openPartialBlob({ path, map: forged, hasher });
    t.teardown(() => blob.close());
    for (let i = 0; i < chunks.length; i++) await blob.write(i, chunks[i]!);
    await t.rejects(blob.finish(), { code: 'OD_ERR_DIGEST_MISMATCH', message: /hash to sha256:/ });
    t.same(await readdir(join(path, '..')), [], 'no blob, partial or sidecar left');
  });
});
