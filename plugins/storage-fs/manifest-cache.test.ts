// The fs store keeps manifests it has read, yet sees every change to them at once: its own puts,
// copies and deletes, and files that another process (an Ollama sharing the store) writes or removes.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { putTinyModel } from '../../conformance/storage/index.js';
import { silentLogger } from '../../core/log.js';
import { parseModelName } from '../../core/models/name.js';
import { encodeManifest, sha256Digest } from './manifest-io.js';
import { storePaths } from './paths.js';
import { FsModelStore } from './store.js';

async function startedStore(t: { teardown(fn: () => unknown): void }) {
  const root = await mkdtemp(join(tmpdir(), 'od-manifest-cache-'));
  const store = new FsModelStore(root, silentLogger());
  await store.start();
  t.teardown(async () => {
    await store.stop();
    await rm(root, { recursive: true, force: true });
  });
  return { store, manifestPath: storePaths(root).manifest(parseModelName('tiny')) };
}

const tiny = parseModelName('tiny');

t.test('a manifest another process rewrites in place is read again on the next call', async (t) => {
  const { store, manifestPath } = await startedStore(t);
  const first = await putTinyModel(store, { seed: 'one' });
  await store.putManifest(tiny, first);
  t.equal((await store.getModel(tiny))!.digest, sha256Digest(encodeManifest(first)), 'read once, now kept');

  // Ollama writes a manifest over the old file, not through a rename: same inode, same size, new bytes.
  const second = await putTinyModel(store, { seed: 'two' });
  t.equal(encodeManifest(second).length, encodeManifest(first).length);
  await writeFile(manifestPath, encodeManifest(second));
  const seen = await store.getModel(tiny);
  t.equal(seen!.digest, sha256Digest(encodeManifest(second)));
  t.same(seen!.manifest, second);
});

t.test('a manifest another process removes is gone on the next call', async (t) => {
  const { store, manifestPath } = await startedStore(t);
  await store.putManifest(tiny, await putTinyModel(store, { seed: 'gone' }));
  t.ok(await store.getModel(tiny));
  await rm(manifestPath);
  t.equal(await store.getModel(tiny), undefined);
});

t.test("the store's own put, copy and delete are seen at once", async (t) => {
  const { store } = await startedStore(t);
  const copy = parseModelName('tiny-copy');
  const [a, b] = [await putTinyModel(store, { seed: 'a' }), await putTinyModel(store, { seed: 'b' })];
  await store.putManifest(tiny, a);
  await store.putManifest(copy, b);
  t.same((await store.getModel(tiny))!.manifest, a);
  t.same((await store.getModel(copy))!.manifest, b);
  await store.copyModel(tiny, copy);
  t.same((await store.getModel(copy))!.manifest, a, 'a copy replaces');
  const c = await putTinyModel(store, { seed: 'c' });
  await store.putManifest(tiny, c);
  t.same((await store.getModel(tiny))!.manifest, c, 'a put replaces');
  await store.deleteModel(tiny);
  t.equal(await store.getModel(tiny), undefined, 'a delete removes');
});

t.test('the manifest a caller gets cannot be changed under the next one', async (t) => {
  const { store } = await startedStore(t);
  await store.putManifest(tiny, await putTinyModel(store, { seed: 'frozen' }));
  const model = (await store.getModel(tiny))!;
  t.throws(() => {
    (model.manifest.layers as unknown[]).push({});
  }, TypeError);
  t.throws(() => {
    (model.manifest.config as { size: number }).size = 1;
  }, TypeError);
});
