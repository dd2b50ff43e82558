// Runs the storage conformance suite against the fs store on a temporary directory, plus what
// only a store on disk can show: partials outlive a stop and resume in a new store.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readAll, sha256Of, storageConformance } from '../../conformance/storage/index.js';
import { silentLogger } from '../../core/log.js';
import { fsStore, meta } from './index.js';

const newStore = async () => fsStore({ model_dir: await mkdtemp(join(tmpdir(), 'od-storage-fs-')) })({ logger: silentLogger() });

storageConformance(t, {
  setup: newStore,
  teardown: (store) => rm(store.root, { recursive: true, force: true }),
});

t.test('plugin metadata', async (t) => {
  t.same(meta, { name: 'fs', kind: 'storage', provides: ['storage'], requires: ['logger'] });
});

t.test('stop keeps open partials and a new store on the same root resumes them', async (t) => {
  const first = await newStore();
  t.teardown(() => rm(first.root, { recursive: true, force: true }));
  await first.start();
  const bytes = randomBytes(100_000);
  const digest = sha256Of(bytes);
  const writer = await first.openBlobWriter(digest);
  await writer.write(bytes.subarray(0, 40_000));
  await first.stop();
  await t.rejects(writer.write(bytes.subarray(40_000)), /already committed or aborted/, 'the stopped writer is closed');

  const second = fsStore({ model_dir: first.root })({ logger: silentLogger() });
  await second.start();
  const resumed = await second.openBlobWriter(digest);
  t.equal(resumed.offset, 40_000);
  await resumed.write(bytes.subarray(40_000));
  await resumed.commit();
  t.same(await readAll(second.readBlob(digest)), bytes);
  await second.stop();
});

t.test('a relative model_dir resolves to an absolute root', async (t) => {
  const store = fsStore({ model_dir: 'relative/models' })({ logger: silentLogger() });
  t.equal(store.root, join(process.cwd(), 'relative/models'));
});
