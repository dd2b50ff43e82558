// Reads the files the fs store leaves on disk and checks them against Ollama's own layout, and
// that a store Ollama wrote is read back as it is.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { putTinyModel, sha256Of } from '../../conformance/storage/index.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE } from '../../core/models/manifest.js';
import { formatModelName, parseModelName } from '../../core/models/name.js';
import { fsStore } from './index.js';

async function startedStore(t: { teardown(fn: () => unknown): void }, logger: Logger = silentLogger()) {
  const root = await mkdtemp(join(tmpdir(), 'od-storage-layout-'));
  const store = fsStore({ model_dir: root })({ logger });
  await store.start();
  t.teardown(async () => {
    await store.stop();
    await rm(root, { recursive: true, force: true });
  });
  return store;
}

const exists = (path: string) => stat(path).then(() => true, () => false);
const hexOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

t.test('start creates blobs/ and manifests/', async (t) => {
  const store = await startedStore(t);
  t.same((await readdir(store.root)).sort(), ['blobs', 'manifests']);
});

t.test('manifests and blobs sit where Ollama puts them', async (t) => {
  const store = await startedStore(t);
  const manifest = await putTinyModel(store, { seed: 'layout' });
  await store.putManifest(parseModelName('tiny'), manifest);
  await store.putManifest(parseModelName('localhost:5050/library/tiny:latest'), manifest);
  await store.putManifest(parseModelName('Me/Tiny:V1'), manifest);

  for (const path of [
    'manifests/registry.ollama.ai/library/tiny/latest',
    'manifests/localhost:5050/library/tiny/latest',
    'manifests/registry.ollama.ai/me/tiny/v1',
  ]) {
    t.ok((await stat(join(store.root, path))).isFile(), `${path} is a file`);
  }

  const digests = [manifest.config, ...manifest.layers].map((d) => d.digest);
  const blobNames = (await readdir(join(store.root, 'blobs'))).sort();
  t.same(blobNames, digests.map((d) => d.replace('sha256:', 'sha256-')).sort(), 'blobs/ holds exactly sha256-<hex> files');
  for (const name of blobNames) {
    const bytes = await readFile(join(store.root, 'blobs', name));
    t.equal(`sha256-${hexOf(bytes)}`, name, `${name} holds the bytes its name promises`);
  }
  t.equal(store.blobPath(digests[0]!), join(store.root, 'blobs', digests[0]!.replace(':', '-')));
});

t.test('the manifest file is compact Docker v2 JSON with Ollama media types', async (t) => {
  const store = await startedStore(t);
  const manifest = await putTinyModel(store, { seed: 'json' });
  const stored = await store.putManifest(parseModelName('tiny'), manifest);
  const bytes = await readFile(join(store.root, 'manifests/registry.ollama.ai/library/tiny/latest'));
  t.equal(stored.digest, `sha256:${hexOf(bytes)}`, 'the reported digest is the sha256 of the file');
  t.equal(bytes.toString('utf8'), JSON.stringify(JSON.parse(bytes.toString('utf8'))), 'no whitespace, as Go writes it');

  const json = JSON.parse(bytes.toString('utf8'));
  t.same(Object.keys(json), ['schemaVersion', 'mediaType', 'config', 'layers'], "Ollama's field order");
  t.equal(json.schemaVersion, 2);
  t.equal(json.mediaType, MANIFEST_MEDIA_TYPE);
  t.same(Object.keys(json.config), ['mediaType', 'digest', 'size']);
  t.equal(json.config.mediaType, CONFIG_MEDIA_TYPE);
  t.same(
    json.layers.map((l: { mediaType: string }) => l.mediaType),
    [LAYER_MEDIA_TYPES.model, LAYER_MEDIA_TYPES.template],
  );
  for (const layer of json.layers) t.same(Object.keys(layer), ['mediaType', 'digest', 'size']);
  const config = JSON.parse(await readFile(store.blobPath(json.config.digest), 'utf8'));
  t.equal(config.model_format, 'gguf', 'the config blob is the JSON the manifest points to');
});

t.test('a blob in progress is only a -partial file beside the blobs', async (t) => {
  const store = await startedStore(t);
  const bytes = randomBytes(10_000);
  const digest = sha256Of(bytes);
  const blob = join(store.root, 'blobs', digest.replace(':', '-'));
  const writer = await store.openBlobWriter(digest);
  await writer.write(bytes.subarray(0, 4000));
  t.ok(await exists(`${blob}-partial`), 'a blob being written is sha256-<hex>-partial');
  t.notOk(await exists(blob), 'no sha256-<hex> yet');
  await writer.abort({ keepPartial: true });
  t.equal((await stat(`${blob}-partial`)).size, 4000, 'a kept partial holds every byte written');
  const resumed = await store.openBlobWriter(digest);
  t.equal(resumed.offset, 4000);
  await resumed.write(bytes.subarray(4000));
  await resumed.commit();
  t.same(await readdir(join(store.root, 'blobs')), [digest.replace(':', '-')], 'the partial became the blob');
});

t.test('a large blob goes to disk in large pieces while it arrives', async (t) => {
  const store = await startedStore(t);
  const bytes = randomBytes(9 * 1024 * 1024);
  const digest = sha256Of(bytes);
  const partial = join(store.root, 'blobs', `${digest.replace(':', '-')}-partial`);
  const writer = await store.openBlobWriter(digest);
  for (let at = 0; at < bytes.length; at += 64 * 1024) await writer.write(bytes.subarray(at, at + 64 * 1024));
  const size = (await stat(partial)).size;
  t.ok(size >= 4 * 1024 * 1024, `${size} bytes reached the disk before commit, at least one whole 4 MiB piece`);
  t.ok(size <= 8 * 1024 * 1024, 'the last, partly filled piece waits in memory for commit');
  await writer.commit();
  t.ok(await exists(join(store.root, 'blobs', digest.replace(':', '-'))), 'committed');
});

t.test('deleting prunes emptied manifest directories and nothing more', async (t) => {
  const store = await startedStore(t);
  const manifest = await putTinyModel(store, { seed: 'prune' });
  await store.putManifest(parseModelName('tiny'), manifest);
  await store.putManifest(parseModelName('localhost:5050/library/tiny:latest'), manifest);
  await store.putManifest(parseModelName('me/tiny:v1'), manifest);
  await store.deleteModel(parseModelName('localhost:5050/library/tiny:latest'));
  await store.deleteModel(parseModelName('me/tiny:v1'));
  t.same(await readdir(join(store.root, 'manifests')), ['registry.ollama.ai']);
  t.same(await readdir(join(store.root, 'manifests/registry.ollama.ai')), ['library']);
  await store.deleteModel(parseModelName('tiny'));
  t.same(await readdir(join(store.root, 'manifests')), [], 'manifests/ itself stays');
  t.same(await readdir(join(store.root, 'blobs')), [], 'the last reference gone, the blobs go');
});

t.test("a store Ollama wrote is read back byte for byte", async (t) => {
  const store = await startedStore(t);
  const blob = async (bytes: Buffer) => {
    await writeFile(join(store.root, 'blobs', `sha256-${hexOf(bytes)}`), bytes);
    return { digest: `sha256:${hexOf(bytes)}`, size: bytes.length };
  };
  const config = await blob(Buffer.from('{"model_format":"gguf","model_family":"llama"}'));
  const weights = await blob(Buffer.concat([Buffer.from('GGUF'), randomBytes(512)]));
  const params = await blob(Buffer.from('{"stop":["<|eot|>"]}'));
  const text =
    `{"schemaVersion":2,"mediaType":"${MANIFEST_MEDIA_TYPE}",` +
    `"config":{"mediaType":"${CONFIG_MEDIA_TYPE}","digest":"${config.digest}","size":${config.size}},` +
    `"layers":[{"mediaType":"${LAYER_MEDIA_TYPES.model}","digest":"${weights.digest}","size":${weights.size},"from":"/root/base.gguf"},` +
    `{"mediaType":"${LAYER_MEDIA_TYPES.params}","digest":"${params.digest}","size":${params.size}}]}`;
  const dir = join(store.root, 'manifests/registry.ollama.ai/library/llama3.2');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '1b'), text);

  const [model] = await store.listModels();
  t.equal(model && formatModelName(model.name), 'llama3.2:1b');
  t.equal(model?.digest, `sha256:${hexOf(Buffer.from(text))}`, "the digest is of Ollama's bytes");
  t.equal(model?.manifest.layers[0]?.from, '/root/base.gguf');
  t.equal(model?.size, config.size + weights.size + params.size);

  const copy = await store.copyModel(parseModelName('llama3.2:1b'), parseModelName('mine:latest'));
  t.equal(copy.digest, model?.digest, 'a copy keeps the bytes, so the digest');
  t.equal(await readFile(join(store.root, 'manifests/registry.ollama.ai/library/mine/latest'), 'utf8'), text);
});

t.test('listModels skips stray files with a warning and ignores writes in flight', async (t) => {
  const warnings: { path: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const store = await startedStore(t, logger);
  await store.putManifest(parseModelName('tiny'), await putTinyModel(store, { seed: 'stray' }));
  const manifests = join(store.root, 'manifests');
  await mkdir(join(manifests, 'registry.ollama.ai/library/junk'), { recursive: true });
  await writeFile(join(manifests, 'registry.ollama.ai/library/junk/latest'), 'not json');
  await writeFile(join(manifests, 'README'), 'a file at the wrong depth');
  await writeFile(join(manifests, 'registry.ollama.ai/library/tiny/.latest.0123.tmp'), '{}');

  t.same((await store.listModels()).map((m) => formatModelName(m.name)), ['tiny:latest']);
  t.same(
    warnings.map((w) => w.path).sort(),
    [join(manifests, 'README'), join(manifests, 'registry.ollama.ai/library/junk/latest')],
    'one warning per stray, none for the temporary file',
  );
  await t.rejects(store.getModel(parseModelName('junk')), { code: 'OD_ERR_INTERNAL' }, 'getModel reports the broken manifest');
  t.equal(await store.deleteModel(parseModelName('junk')), true, 'and deleteModel can remove it');
});
