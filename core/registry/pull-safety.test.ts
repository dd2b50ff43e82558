// What a pull trusts and what it keeps, against a real docker-registry: a manifest whose bytes do
// not match Docker-Content-Digest, one past the size cap or of another media type is refused before
// any blob is fetched; a delete racing a pull that shares blobs leaves the pulled model whole.

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore, StoredModel } from '../contracts/storage.js';
import { silentLogger } from '../log.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE, type Descriptor } from '../models/manifest.js';
import { parseModelName, type ModelName } from '../models/name.js';
import { fsStore } from '../../plugins/storage-fs/index.js';
import type { ProgressEvent } from './progress.js';
import { pullModel } from './pull.js';
import { pushModel } from './push.js';
import { RegistryError } from './registry-error.js';
import { startCountingProxy } from './testing/counting-proxy.js';
import { dockerRegistryMissing, startDockerRegistry, type TestRegistry } from './testing/docker-registry.js';
import { seededBytes, writeModel } from './testing/model.js';
import { contentDigest, startTamperingProxy, type ServedManifest } from './testing/tampering-proxy.js';

const MiB = 1024 * 1024;
const missing = dockerRegistryMissing();
if (missing && process.env.CI === 'true') t.fail(`registry tests cannot run under CI: ${missing}`);

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function newStore(t: Test): Promise<ModelStore & Startable> {
  const store = fsStore({ model_dir: await mkdtemp(join(tmpdir(), 'od-pull-safety-')) })({ logger: silentLogger() });
  await store.start();
  t.teardown(async () => {
    await store.stop();
    await rm(store.root, { recursive: true, force: true });
  });
  return store;
}

const blobFiles = async (store: ModelStore) => (await readdir(join(store.root, 'blobs'))).sort();

/** A model of the given layers, each written through the store. */
async function writeLayers(store: ModelStore, name: ModelName, layers: { mediaType: string; bytes: Buffer }[]): Promise<StoredModel> {
  const descriptors: Descriptor[] = [];
  for (const { mediaType, bytes } of layers) {
    const writer = await store.openBlobWriter(sha256(bytes));
    if (writer.offset < bytes.byteLength) await writer.write(bytes.subarray(writer.offset));
    await writer.commit();
    descriptors.push({ mediaType, digest: writer.digest, size: bytes.byteLength });
  }
  const config = await store.putBlobBytes(Buffer.from(JSON.stringify({ model_format: 'gguf', rootfs: { type: 'layers', diff_ids: descriptors.map((d) => d.digest) } })));
  return store.putManifest(name, { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config: { mediaType: CONFIG_MEDIA_TYPE, ...config }, layers: descriptors });
}

/** Rewrites the manifest JSON and sends the digest an honest registry would send for the new bytes. */
const rewriteJson = (edit: (manifest: Record<string, unknown>) => void) => (served: ServedManifest): ServedManifest => {
  const manifest = JSON.parse(served.body.toString('utf8')) as Record<string, unknown>;
  edit(manifest);
  const body = Buffer.from(JSON.stringify(manifest));
  return { body, headers: { ...served.headers, 'docker-content-digest': contentDigest(body) } };
};

t.test('pull checks on the manifest', { skip: missing }, async (t) => {
  const registry: TestRegistry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const source = await newStore(t);
  const pushed = parseModelName(`${registry.host}/library/checked:latest`);
  const written = await writeModel(source, pushed, seededBytes(MiB, 11));
  await pushModel({ store: source, name: pushed, insecure: true, onProgress: () => {} });

  /** Pulls the pushed model through a proxy that applies `tamper`; returns the failure and the target store. */
  const pullThrough = async (t: Test, tamper: (served: ServedManifest) => ServedManifest) => {
    const proxy = await startTamperingProxy(Number(registry.host.split(':')[1]), tamper);
    t.teardown(() => proxy.close());
    const target = await newStore(t);
    const name = parseModelName(`${proxy.host}/library/checked:latest`);
    const error = await pullModel({ store: target, name, insecure: true, onProgress: () => {} }).then(
      () => undefined,
      (e: unknown) => e as RegistryError,
    );
    t.equal(proxy.tampered, 1, 'the manifest went through the proxy once');
    t.equal(await target.getModel(name), undefined, 'no manifest is written');
    t.same(await blobFiles(target), [], 'no blob was fetched');
    return { error, proxy };
  };

  t.test('an untampered manifest pulls through the proxy', async (t) => {
    const proxy = await startTamperingProxy(Number(registry.host.split(':')[1]), (served) => served);
    t.teardown(() => proxy.close());
    const target = await newStore(t);
    const stored = await pullModel({ store: target, name: parseModelName(`${proxy.host}/library/checked:latest`), insecure: true, onProgress: () => {} });
    t.same(stored.manifest, written.manifest);
  });

  t.test('bytes that do not hash to Docker-Content-Digest are refused', async (t) => {
    let announced = '';
    const { error, proxy } = await pullThrough(t, (served) => {
      announced = String(served.headers['docker-content-digest']);
      // Same length, so only the hash can tell: the template becomes a message history.
      const body = Buffer.from(served.body.toString('utf8').replace(LAYER_MEDIA_TYPES.template, LAYER_MEDIA_TYPES.messages));
      t.not(body.toString(), served.body.toString(), 'the proxy changed the manifest');
      return { body, headers: served.headers };
    });
    t.type(error, RegistryError);
    t.equal(error?.status, 502);
    t.match(error?.message, `pull model manifest: registry ${proxy.host} sent an invalid answer for ${proxy.host}/library/checked:latest: manifest hashes to sha256:`);
    t.match(error?.message, `the registry says ${announced}`);
  });

  t.test('a manifest over 4 MiB is refused', async (t) => {
    const { error } = await pullThrough(
      t,
      rewriteJson((manifest) => {
        manifest['annotations'] = { padding: 'x'.repeat(4 * MiB) };
      }),
    );
    t.type(error, RegistryError);
    t.equal(error?.status, 502);
    t.match(error?.message, 'manifest is larger than 4194304 bytes');
  });

  t.test('a manifest of another media type (an OCI image) is refused', async (t) => {
    const { error } = await pullThrough(
      t,
      rewriteJson((manifest) => {
        manifest['mediaType'] = 'application/vnd.oci.image.manifest.v1+json';
      }),
    );
    t.type(error, RegistryError);
    t.equal(error?.status, 502);
    t.match(error?.message, "manifest media type 'application/vnd.oci.image.manifest.v1+json' is not a Docker v2 image manifest (an Ollama model)");
  });
});

t.test('a delete racing a pull that shares its weights leaves the pulled model whole', { skip: missing }, async (t) => {
  const registry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const weights = seededBytes(2 * MiB, 12);
  const source = await newStore(t);
  const remote = parseModelName(`${registry.host}/library/tagged:vision`);
  await writeLayers(source, remote, [
    { mediaType: LAYER_MEDIA_TYPES.model, bytes: weights },
    { mediaType: LAYER_MEDIA_TYPES.projector, bytes: seededBytes(6 * MiB, 13) },
    { mediaType: LAYER_MEDIA_TYPES.template, bytes: Buffer.from('{{ .Prompt }} vision') },
  ]);
  await pushModel({ store: source, name: remote, insecure: true, onProgress: () => {} });

  const target = await newStore(t);
  const local = parseModelName('tagged:text');
  const text = await writeModel(target, local, weights);
  const shared = text.manifest.layers[0]!.digest;

  // Paced, so the projector takes about a second after the shared weights were found present.
  const proxy = await startCountingProxy(Number(registry.host.split(':')[1]), { rateBytesPerSecond: 6 * MiB });
  t.teardown(() => proxy.close());
  const name = parseModelName(`${proxy.host}/library/tagged:vision`);
  let deleted: Promise<boolean> | undefined;
  let deletedBeforePull = false;
  const pulled = await pullModel({
    store: target,
    name,
    insecure: true,
    tuning: { partSize: 8 * MiB, parallel: 1, singleStreamBytesPerSecond: Infinity },
    onProgress: (event: ProgressEvent) => {
      if (deleted || event.digest === shared || !event.digest) return;
      deleted = target.deleteModel(local).then((existed) => ((deletedBeforePull = true), existed));
    },
  });
  t.equal(deletedBeforePull, true, 'the delete finished while the pull was still downloading');
  t.equal(await deleted, true, 'the other model was deleted');
  t.equal(await target.getModel(local), undefined);
  for (const layer of [pulled.manifest.config, ...pulled.manifest.layers]) {
    const chunks: Buffer[] = [];
    for await (const chunk of target.readBlob(layer.digest)) chunks.push(chunk as Buffer);
    t.equal(sha256(Buffer.concat(chunks)), layer.digest, `the pulled model has its ${layer.mediaType}`);
  }
  t.ok(pulled.manifest.layers.some((layer) => layer.digest === shared), 'including the shared weights');
  const named = [pulled.manifest.config, ...pulled.manifest.layers].map((d) => d.digest.replace(':', '-')).sort();
  t.same(await blobFiles(target), named, "the deleted model's own blobs are gone");
});
