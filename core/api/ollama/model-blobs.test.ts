// The blobs a node keeps, seen through its API: re-creates and deletes leave only what manifests
// name, and a start prunes what nothing names unless OLLAMA_NOPRUNE says to keep it.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startTestNode } from '../../../conformance/fixtures/node.js';
import { createTiny, digestOf, nodeFor, post, postJson } from './test-support.js';

const ENV = { OLLAMA_ENGINE: 'sim' };

const blobsOf = async (dataDir: string) => (await readdir(join(dataDir, 'models', 'blobs'))).sort();

/** The blob file names a model's manifest on disk names. */
async function namedBy(dataDir: string, model: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(join(dataDir, 'models/manifests/registry.ollama.ai/library', model, 'latest'), 'utf8'));
  return [manifest.config, ...manifest.layers].map((d: { digest: string }) => d.digest.replace(':', '-'));
}

t.test('100 re-creates through /api/create, then deleting every model, leave only what manifests name', async (t) => {
  const node = await nodeFor(t, ENV);
  await createTiny(node.url, 'tiny');
  const kept = await postJson(node.url, '/api/create', { model: 'kept', from: 'tiny', system: 'kept', stream: false });
  t.equal(kept.status, 200);
  for (let i = 0; i < 100; i++) {
    const { status } = await postJson(node.url, '/api/create', { model: 'tiny', from: 'tiny', system: `take ${i}`, parameters: { seed: i }, stream: false });
    if (status !== 200) t.fail(`re-create ${i} answered ${status}`);
  }
  const named = [...new Set([...(await namedBy(node.dataDir, 'tiny')), ...(await namedBy(node.dataDir, 'kept'))])].sort();
  t.same(await blobsOf(node.dataDir), named, `blobs/ holds the ${named.length} blobs the two manifests name`);
  for (const model of ['tiny', 'kept']) t.equal((await post(node.url, '/api/delete', { model }, 'DELETE')).status, 200);
  t.same(await blobsOf(node.dataDir), [], 'no blob is left once every model is deleted');
});

t.test('a node start prunes an old blob nothing names; with OLLAMA_NOPRUNE it stays', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-node-prune-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startTestNode({ dataDir, env: ENV });
  await createTiny(first.url, 'tiny');
  await first.stop();
  const named = await namedBy(dataDir, 'tiny');
  const orphan = randomBytes(64);
  const orphanName = digestOf(orphan).replace(':', '-');
  await writeFile(join(dataDir, 'models/blobs', orphanName), orphan);
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  for (const name of [orphanName, ...named]) await utimes(join(dataDir, 'models/blobs', name), twoHoursAgo, twoHoursAgo);

  const keeping = await startTestNode({ dataDir, env: { ...ENV, OLLAMA_NOPRUNE: 'true' } });
  await keeping.stop();
  t.same(await blobsOf(dataDir), [orphanName, ...named].sort(), 'OLLAMA_NOPRUNE keeps the orphan');

  const pruning = await startTestNode({ dataDir, env: ENV });
  t.teardown(() => pruning.stop());
  t.same(await blobsOf(dataDir), [...named].sort(), 'a start without it removes the orphan and keeps the model');
  const generated = await postJson(pruning.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 1 } });
  t.equal(generated.status, 200, 'the model still runs');
});
