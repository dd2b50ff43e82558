// Pull and push against a real docker-registry on loopback: a round trip between two stores,
// resume after a cancel and after a network cut (bytes counted at a proxy), corruption, and errors.

import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ModelStore } from '../contracts/storage.js';
import type { Startable } from '../contracts/plugin.js';
import { silentLogger } from '../log.js';
import { parseModelName } from '../models/name.js';
import { fsStore } from '../../plugins/storage-fs/index.js';
import type { ProgressEvent } from './progress.js';
import { pullModel } from './pull.js';
import { pushModel } from './push.js';
import { RegistryError } from './registry-error.js';
import { startCountingProxy } from './testing/counting-proxy.js';
import { dockerRegistryMissing, freeLoopbackPort, startDockerRegistry, type TestRegistry } from './testing/docker-registry.js';
import { seededBytes, writeModel } from './testing/model.js';

const MiB = 1024 * 1024;
const missing = dockerRegistryMissing();
if (missing && process.env.CI === 'true') t.fail(`registry tests cannot run under CI: ${missing}`);

async function newStore(t: Test): Promise<ModelStore & Startable> {
  const store = fsStore({ model_dir: await mkdtemp(join(tmpdir(), 'od-registry-store-')) })({ logger: silentLogger() });
  await store.start();
  t.teardown(async () => {
    await store.stop();
    await rm(store.root, { recursive: true, force: true });
  });
  return store;
}

async function blobFiles(store: ModelStore): Promise<string[]> {
  return (await readdir(join(store.root, 'blobs'))).sort();
}

function statuses(events: ProgressEvent[]): string[] {
  return events.map((e) => e.status).filter((s, i, all) => s !== all[i - 1]);
}

t.test('registry transfers', { skip: missing }, async (t) => {
  const registry: TestRegistry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const source = await newStore(t);

  t.test('push from one store, pull into an empty one', async (t) => {
    const name = parseModelName(`${registry.host}/library/tiny:latest`);
    const bytes = seededBytes(5 * MiB + 123, 1);
    const written = await writeModel(source, name, bytes);
    const pushed: ProgressEvent[] = [];
    await pushModel({ store: source, name, insecure: true, onProgress: (e) => pushed.push(e) });
    const layers = [...written.manifest.layers, written.manifest.config];
    t.same(statuses(pushed), [
      'retrieving manifest',
      ...layers.map((l) => `pushing ${l.digest.slice(7, 19)}`),
      'pushing manifest',
      'success',
    ]);

    const target = await newStore(t);
    const pulled: ProgressEvent[] = [];
    const stored = await pullModel({ store: target, name, insecure: true, onProgress: (e) => pulled.push(e) });
    t.same(statuses(pulled), [
      'pulling manifest',
      ...layers.map((l) => `pulling ${l.digest.slice(7, 19)}`),
      'verifying sha256 digest',
      'writing manifest',
      'success',
    ]);
    t.same(stored.manifest, written.manifest);
    t.equal(stored.digest, written.digest, 'the manifest bytes are the same');
    for (const layer of layers) {
      const last = pulled.filter((e) => e.digest === layer.digest).at(-1)!;
      t.same(last, { status: `pulling ${layer.digest.slice(7, 19)}`, digest: layer.digest, total: layer.size, completed: layer.size });
    }
    t.same(await blobFiles(target), await blobFiles(source));

    const again: ProgressEvent[] = [];
    await pullModel({ store: target, name, insecure: true, onProgress: (e) => again.push(e) });
    t.ok(
      again.filter((e) => e.digest).every((e) => e.completed === e.total),
      'a second pull finds every blob present',
    );
  });

  t.test('push skips blobs the registry already has', async (t) => {
    const proxy = await startCountingProxy(Number(registry.host.split(':')[1]));
    t.teardown(() => proxy.close());
    const name = parseModelName(`${proxy.host}/library/twice:latest`);
    await writeModel(source, name, seededBytes(3 * MiB, 2));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    const first = proxy.uploaded;
    t.ok(first > 3 * MiB, 'the first push uploads the blobs');
    const events: ProgressEvent[] = [];
    await pushModel({ store: source, name, insecure: true, onProgress: (e) => events.push(e) });
    t.ok(proxy.uploaded - first < 16 * 1024, 'the second push sends only HEADs and the manifest');
    t.ok(events.filter((e) => e.digest).every((e) => e.completed === e.total));
  });

  t.test('a cancelled pull resumes from what it wrote', async (t) => {
    // Paced, so the abort at half the blob lands mid-transfer however fast the machine runs.
    const proxy = await startCountingProxy(Number(registry.host.split(':')[1]), { rateBytesPerSecond: 32 * MiB });
    t.teardown(() => proxy.close());
    const name = parseModelName(`${proxy.host}/library/resume:latest`);
    const size = 24 * MiB;
    const written = await writeModel(source, name, seededBytes(size, 3));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    const modelDigest = written.manifest.layers[0]!.digest;
    const tuning = { partSize: 2 * MiB, parallel: 3, singleStreamBytesPerSecond: Infinity };

    const target = await newStore(t);
    const controller = new AbortController();
    const before = proxy.served;
    const cancelled = pullModel({
      store: target,
      name,
      insecure: true,
      tuning,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.digest === modelDigest && (e.completed ?? 0) >= size / 2) controller.abort(new Error('cancelled by the test'));
      },
    });
    await t.rejects(cancelled, /cancelled by the test/);
    const firstServed = proxy.served - before;
    t.equal(await target.getModel(name), undefined, 'no manifest after a cancelled pull');
    t.notOk(await target.hasBlob(modelDigest), 'the model blob is not visible');
    const partial = await stat(join(target.root, 'blobs', `sha256-${modelDigest.slice(7)}-partial`));
    t.ok(partial.size >= size / 2 - tuning.partSize * tuning.parallel, `the partial holds ${partial.size} bytes`);

    const second = proxy.served;
    await pullModel({ store: target, name, insecure: true, tuning, onProgress: () => {} });
    const secondServed = proxy.served - second;
    t.ok(await target.hasBlob(modelDigest));
    t.ok(secondServed <= size - partial.size + 64 * 1024, `the second pull fetched ${secondServed} bytes, the partial held ${partial.size}`);
    const total = firstServed + secondServed;
    t.ok(total < size + tuning.partSize * tuning.parallel + 64 * 1024, `${total} bytes served for a ${size}-byte blob`);
  });

  t.test('a pull continues after the network is cut mid-blob', async (t) => {
    const proxy = await startCountingProxy(Number(registry.host.split(':')[1]));
    t.teardown(() => proxy.close());
    const name = parseModelName(`${proxy.host}/library/cut:latest`);
    const size = 16 * MiB;
    await writeModel(source, name, seededBytes(size, 4));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    const target = await newStore(t);
    const before = proxy.served;
    const cut = proxy.cutAt(before + size / 3);
    await pullModel({ store: target, name, insecure: true, tuning: { partSize: 4 * MiB, parallel: 2, singleStreamBytesPerSecond: Infinity, retryDelayMs: 20 }, onProgress: () => {} });
    await cut;
    const served = proxy.served - before;
    t.ok(await target.getModel(name), 'the pull completed');
    t.ok(served < size + 4 * MiB, `${served} bytes served for a ${size}-byte blob cut at a third`);
  });

  t.test('a push continues after the network is cut mid-blob', async (t) => {
    const proxy = await startCountingProxy(Number(registry.host.split(':')[1]));
    t.teardown(() => proxy.close());
    const name = parseModelName(`${proxy.host}/library/pushcut:latest`);
    const size = 16 * MiB;
    await writeModel(source, name, seededBytes(size, 6));
    const cut = proxy.cutAt(6 * MiB, 'uploaded');
    await pushModel({ store: source, name, insecure: true, tuning: { partSize: 4 * MiB, retryDelayMs: 20 }, onProgress: () => {} });
    await cut;
    // docker-registry cannot resume an upload a broken PATCH wrote into, so the blob starts over once.
    t.ok(proxy.uploaded < size + 7 * MiB, `${proxy.uploaded} bytes uploaded for a ${size}-byte blob cut at 6 MiB`);
    const target = await newStore(t);
    await pullModel({ store: target, name, insecure: true, onProgress: () => {} });
    t.ok(await target.getModel(name), 'what was pushed pulls back whole');
  });

  t.test('a corrupted registry blob fails the pull and leaves nothing behind', async (t) => {
    const name = parseModelName(`${registry.host}/library/corrupt:latest`);
    const size = 2 * MiB;
    const written = await writeModel(source, name, seededBytes(size, 5));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    const data = await open(registry.blobDataPath(written.manifest.layers[0]!.digest), 'r+');
    await data.write(randomBytes(4096), 0, 4096, 1000);
    await data.close();

    const target = await newStore(t);
    const error = await pullModel({ store: target, name, insecure: true, onProgress: () => {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(error, RegistryError);
    const message = (error as Error).message;
    t.match(message, /^digest mismatch, file must be downloaded again/);
    t.match(message, registry.host, 'the message names the registry');
    t.match(message, 'library/corrupt:latest', 'the message names the model');
    t.equal((error as RegistryError).status, 502);
    t.equal(await target.getModel(name), undefined, 'no manifest');
    t.same(await blobFiles(target), [], 'no blob and no partial');
  });

  t.test('a model the registry lacks is a 404 naming model and registry', async (t) => {
    const target = await newStore(t);
    const name = parseModelName(`${registry.host}/library/absent:v1`);
    const error = (await pullModel({ store: target, name, insecure: true, onProgress: () => {} }).catch((e: unknown) => e)) as RegistryError;
    t.type(error, RegistryError);
    t.equal(error.status, 404);
    t.equal(error.message, `pull model manifest: file does not exist: registry ${registry.host} has no ${registry.host}/library/absent:v1`);
  });

  t.test('pushing a model the store lacks is a 404', async (t) => {
    const name = parseModelName(`${registry.host}/library/never:latest`);
    await t.rejects(pushModel({ store: source, name, insecure: true, onProgress: () => {} }), { status: 404, message: /not found/ });
  });
});

t.test('a registry that is down is a clear 502', async (t) => {
  const store = await newStore(t);
  const host = `127.0.0.1:${await freeLoopbackPort()}`;
  const events: ProgressEvent[] = [];
  const error = (await pullModel({ store, name: parseModelName(`${host}/library/tiny`), insecure: true, onProgress: (e) => events.push(e) }).catch(
    (e: unknown) => e,
  )) as RegistryError;
  t.type(error, RegistryError);
  t.equal(error.status, 502);
  t.match(error.message, `pull model manifest: registry ${host} is unreachable for ${host}/library/tiny:latest`);
  t.match(error.message, /ECONNREFUSED/);
  t.same(statuses(events), ['pulling manifest']);
});

t.test('a plain-HTTP registry pulled without insecure says so', { skip: missing }, async (t) => {
  const registry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const store = await newStore(t);
  await t.rejects(pullModel({ store, name: parseModelName(`${registry.host}/library/tiny`), onProgress: () => {} }), {
    status: 502,
    message: `pull model manifest: registry ${registry.host} is unreachable for ${registry.host}/library/tiny:latest: TLS handshake failed; a registry that speaks plain HTTP needs insecure (--insecure) (ERR_SSL_WRONG_VERSION_NUMBER)`,
  });
});
