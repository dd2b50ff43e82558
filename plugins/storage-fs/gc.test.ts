// What the fs store collects, counted in the files it leaves: blobs after re-creates and deletes,
// the start-up prune with its grace period, storage.noprune, and the rules as pure functions.

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { putTinyModel, sha256Of } from '../../conformance/storage/index.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { Manifest } from '../../core/models/manifest.js';
import { parseModelName } from '../../core/models/name.js';
import { pruneStore, pruneVerdict, type PruneRules } from './gc.js';
import { storePaths } from './paths.js';
import { fsStore } from './index.js';
import { BLOB_GRACE_MS, PendingBlobs } from './pending-blobs.js';

type Store = ReturnType<ReturnType<typeof fsStore>>;

async function storeOn(t: { teardown(fn: () => unknown): void }, root: string, options: { noprune?: boolean; logger?: Logger } = {}): Promise<Store> {
  const store = fsStore({ model_dir: root, noprune: options.noprune ?? false })({ logger: options.logger ?? silentLogger() });
  await store.start();
  t.teardown(() => store.stop());
  return store;
}

async function newRoot(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'od-storage-gc-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

const blobFiles = async (root: string) => (await readdir(join(root, 'blobs'))).sort();
const fileNames = (manifests: Manifest[]) =>
  [...new Set(manifests.flatMap((m) => [m.config, ...m.layers]).map((d) => d.digest.replace(':', '-')))].sort();

/** Makes a file look as if it was last written `ms` ago. */
async function age(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

const tiny = parseModelName('tiny');
const other = parseModelName('other');

t.test('100 re-creates leave exactly the blobs the remaining manifests name, and deleting all leaves none', async (t) => {
  const root = await newRoot(t);
  const store = await storeOn(t, root);
  const kept = await putTinyModel(store, { seed: 'kept' });
  await store.putManifest(other, kept);
  let last = kept;
  for (let i = 0; i < 100; i++) {
    last = await putTinyModel(store, { seed: `re-create ${i}`, sharedModel: kept.layers[0]! });
    await store.putManifest(tiny, last);
  }
  t.same(await blobFiles(root), fileNames([kept, last]), 'blobs/ holds the two manifests\' blobs and nothing else');
  await store.deleteModel(tiny);
  await store.deleteModel(other);
  t.same(await blobFiles(root), [], 'no blob after every model is deleted');
});

t.test('start prunes unnamed blobs, stale partials and temporaries once the grace period has passed', async (t) => {
  const root = await newRoot(t);
  const first = await storeOn(t, root);
  const named = await putTinyModel(first, { seed: 'named' });
  await first.putManifest(tiny, named);
  await first.stop();

  const blobs = join(root, 'blobs');
  const oldOrphan = randomBytes(100);
  const newOrphan = randomBytes(100);
  const oldPartial = `${sha256Of(randomBytes(8)).replace(':', '-')}-partial`;
  const newPartial = `${sha256Of(randomBytes(8)).replace(':', '-')}-partial`;
  const ollamaPart = `${sha256Of(randomBytes(8)).replace(':', '-')}-partial-3`;
  const oldChunks = `${oldPartial}.chunks`;
  const newChunks = `${newPartial}.chunks`;
  const oldTemp = `.${sha256Of(oldOrphan).replace(':', '-')}.0123456789ab.tmp`;
  const manifestTemp = 'manifests/registry.ollama.ai/library/tiny/.latest.0123456789ab.tmp';
  await writeFile(join(blobs, sha256Of(oldOrphan).replace(':', '-')), oldOrphan);
  await writeFile(join(blobs, sha256Of(newOrphan).replace(':', '-')), newOrphan);
  for (const name of [oldPartial, newPartial, ollamaPart, oldChunks, newChunks, oldTemp, 'notes.txt']) await writeFile(join(blobs, name), 'x');
  await writeFile(join(root, manifestTemp), '{');
  await mkdir(join(root, 'manifests/registry.ollama.ai/library/gone'), { recursive: true });
  const stale = BLOB_GRACE_MS + 60_000;
  for (const name of [sha256Of(oldOrphan).replace(':', '-'), oldPartial, ollamaPart, oldChunks, oldTemp, 'notes.txt', ...fileNames([named])]) {
    await age(join(blobs, name), stale);
  }
  await age(join(root, manifestTemp), stale);

  const warnings: { msg: string; path?: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  await storeOn(t, root, { logger });
  t.same(
    await blobFiles(root),
    [...fileNames([named]), sha256Of(newOrphan).replace(':', '-'), newPartial, newChunks, 'notes.txt'].sort(),
    'named blobs, and what was written within the grace period, stay; unknown files too',
  );
  t.same(await readdir(join(root, 'manifests/registry.ollama.ai/library')), ['tiny'], 'empty manifest directories go');
  t.same(await readdir(join(root, 'manifests/registry.ollama.ai/library/tiny')), ['latest'], 'a stale manifest temporary goes');
  t.ok(warnings.some((w) => w.path === join(blobs, 'notes.txt')), 'the unknown file is reported');
  t.notOk(warnings.some((w) => w.path === join(blobs, newChunks)), 'a chunk list beside its partial is no stray');
});

t.test('a resumable partial survives a restart within the grace period', async (t) => {
  const root = await newRoot(t);
  const first = await storeOn(t, root);
  const bytes = randomBytes(50_000);
  const writer = await first.openBlobWriter(sha256Of(bytes));
  await writer.write(bytes.subarray(0, 20_000));
  await first.stop();
  const second = await storeOn(t, root);
  const resumed = await second.openBlobWriter(sha256Of(bytes));
  t.equal(resumed.offset, 20_000, 'the prune left the fresh partial');
  await resumed.abort();
});

t.test("a writer starts over on a partial a copy from peers left, which is laid out by chunks, not as a prefix", async (t) => {
  const root = await newRoot(t);
  const store = await storeOn(t, root);
  const bytes = randomBytes(50_000);
  const digest = sha256Of(bytes);
  const paths = storePaths(root);
  await writeFile(paths.partialBlob(digest), Buffer.concat([Buffer.alloc(30_000), bytes.subarray(30_000)]));
  await writeFile(`${paths.partialBlob(digest)}.chunks`, '{}');
  const writer = await store.openBlobWriter(digest);
  t.equal(writer.offset, 0, 'nothing of the chunked partial is taken as a prefix');
  t.same(await blobFiles(root), [`${digest.replace(':', '-')}-partial`], 'the chunk list is gone');
  t.equal((await stat(paths.partialBlob(digest))).size, 0, 'and the writer begins its own partial from nothing');
  await writer.write(bytes);
  await writer.commit();
  t.same(await blobFiles(root), [digest.replace(':', '-')]);
});

t.test('an unreadable manifest stops the start-up prune from taking any blob', async (t) => {
  const root = await newRoot(t);
  const first = await storeOn(t, root);
  const named = await putTinyModel(first, { seed: 'x' });
  await first.putManifest(tiny, named);
  await first.stop();
  await writeFile(join(root, 'manifests/registry.ollama.ai/library/tiny/latest'), '{"schemaVersion":');
  const stalePartial = `${sha256Of(randomBytes(8)).replace(':', '-')}-partial`;
  await writeFile(join(root, 'blobs', stalePartial), 'x');
  for (const name of [...fileNames([named]), stalePartial]) await age(join(root, 'blobs', name), BLOB_GRACE_MS * 2);
  const warnings: { msg: string }[] = [];
  await storeOn(t, root, { logger: pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) }) });
  t.same(await blobFiles(root), fileNames([named]), 'the blobs the broken manifest may name stay; the stale partial goes');
  t.ok(warnings.some((w) => /no blob is pruned/.test(w.msg)), 'and the log says why');
});

t.test('storage.noprune keeps unnamed blobs at start and after a replace; a delete still collects', async (t) => {
  const root = await newRoot(t);
  const store = await storeOn(t, root, { noprune: true });
  const replaced = await putTinyModel(store, { seed: 'replaced' });
  await store.putManifest(tiny, replaced);
  const current = await putTinyModel(store, { seed: 'current' });
  await store.putManifest(tiny, current);
  const copied = await putTinyModel(store, { seed: 'copied over' });
  await store.putManifest(other, copied);
  await store.copyModel(tiny, other);
  t.same(await blobFiles(root), fileNames([replaced, current, copied]), 'a replaced manifest leaves its blobs');
  await store.stop();

  for (const name of await blobFiles(root)) await age(join(root, 'blobs', name), BLOB_GRACE_MS * 2);
  await storeOn(t, root, { noprune: true });
  t.same(await blobFiles(root), fileNames([replaced, current, copied]), 'a start with noprune prunes nothing');

  const pruning = await storeOn(t, root);
  t.same(await blobFiles(root), fileNames([current]), 'a start without it collects the unnamed blobs');
  await pruning.deleteModel(tiny);
  t.same(await blobFiles(root), fileNames([current]), 'other still names them');
  const keeping = await storeOn(t, root, { noprune: true });
  await keeping.deleteModel(other);
  t.same(await blobFiles(root), [], 'a delete collects even with noprune');
});

t.test('a start-up prune leaves a blob a create in this process has pending', async (t) => {
  const root = await newRoot(t);
  const store = await storeOn(t, root);
  const bytes = new TextEncoder().encode('{{ .Prompt }} pending');
  const { digest } = await store.putBlobBytes(bytes);
  await age(join(root, 'blobs', digest.replace(':', '-')), BLOB_GRACE_MS * 2);
  await storeOn(t, root);
  t.equal(await store.hasBlob(digest), true, 'pending in memory outweighs an old mtime');
});

t.test('a blob a create or pull finds already present looks new to the prune of another process', async (t) => {
  const root = await newRoot(t);
  const store = await storeOn(t, root);
  const text = await store.putBlobBytes(new TextEncoder().encode('{{ .System }}'));
  const weights = randomBytes(2000);
  const writer = await store.openBlobWriter(sha256Of(weights));
  await writer.write(weights);
  await writer.commit();
  for (const digest of [text.digest, writer.digest]) await age(join(root, 'blobs', digest.replace(':', '-')), BLOB_GRACE_MS * 2);

  await store.putBlobBytes(new TextEncoder().encode('{{ .System }}'));
  await (await store.openBlobWriter(writer.digest)).commit();
  // Another process sharing the store knows nothing of this one's pending claims.
  const elsewhere = { pending: new PendingBlobs(), logger: silentLogger(), graceMs: BLOB_GRACE_MS };
  await pruneStore(storePaths(root), elsewhere);
  t.same(await blobFiles(root), [text.digest, writer.digest].map((d) => d.replace(':', '-')).sort(), 'both were touched when found');
  await pruneStore(storePaths(root), { ...elsewhere, now: Date.now() + BLOB_GRACE_MS + 1000 });
  t.same(await blobFiles(root), [], 'and go once the grace period has passed with no manifest naming them');
});

t.test('prune rules', async (t) => {
  const hex = 'ab'.repeat(32);
  const rules: PruneRules = { graceMs: 1000, collectBlobs: true, inUse: (digest) => digest === `sha256:${'cd'.repeat(32)}` };
  const cases: [string, number, PruneRules, ReturnType<typeof pruneVerdict>][] = [
    [`sha256-${hex}`, 5000, rules, { action: 'remove', what: 'blob', digest: `sha256:${hex}` }],
    [`sha256-${hex}`, 999, rules, { action: 'keep' }],
    [`sha256-${'cd'.repeat(32)}`, 5000, rules, { action: 'keep' }],
    [`sha256-${hex}`, 5000, { ...rules, collectBlobs: false }, { action: 'keep' }],
    [`sha256-${hex}-partial`, 5000, { ...rules, collectBlobs: false }, { action: 'remove', what: 'partial', digest: `sha256:${hex}` }],
    [`sha256-${hex}-partial-12`, 5000, rules, { action: 'remove', what: 'partial', digest: `sha256:${hex}` }],
    [`sha256-${hex}-partial`, 10, rules, { action: 'keep' }],
    [`sha256-${hex}-partial.chunks`, 5000, rules, { action: 'remove', what: 'partial', digest: `sha256:${hex}` }],
    [`sha256-${hex}-partial.chunks`, 10, rules, { action: 'keep' }],
    [`sha256-${hex}-partial.json`, 5000, rules, { action: 'stray' }],
    [`.sha256-${hex}.0123456789ab.tmp`, 5000, rules, { action: 'remove', what: 'temporary' }],
    [`.sha256-${hex}.0123456789ab.tmp`, 10, rules, { action: 'keep' }],
    [`sha256-${hex.toUpperCase()}`, 5000, rules, { action: 'stray' }],
    ['sha256-abc', 5000, rules, { action: 'stray' }],
    ['notes.txt', 5000, rules, { action: 'stray' }],
  ];
  for (const [name, ageMs, r, verdict] of cases) t.same(pruneVerdict(name, ageMs, r), verdict, `${name} at ${ageMs} ms`);
});

t.test('pending claims: counted, settled by manifests, lapsing after the grace period', async (t) => {
  let now = 0;
  const pending = new PendingBlobs({ now: () => now, graceMs: 100 });
  pending.claim('a');
  pending.claim('a');
  pending.settle(['a']);
  t.equal(pending.has('a'), true, 'two creates claimed it, one manifest named it');
  pending.settle(['a']);
  t.equal(pending.has('a'), false, 'the second manifest settles the second claim');
  pending.settle(['a']);
  pending.claim('a');
  t.equal(pending.has('a'), true, 'settling more than was claimed leaves no debt');
  pending.claim('b');
  now = 60;
  pending.claim('a');
  now = 120;
  t.equal(pending.has('b'), false, 'a claim nobody settled lapses');
  t.equal(pending.has('a'), true, 'a later claim restarts the grace period');
  now = 161;
  t.equal(pending.has('a'), false);
});
