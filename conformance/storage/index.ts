// The storage conformance suite: what every ModelStore must do, whatever it keeps bytes on.
// An implementation's test file calls `storageConformance(t, { setup, teardown })` once.

import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Startable } from '../../core/contracts/plugin.js';
import type { ModelStore } from '../../core/contracts/storage.js';
import {
  CONFIG_MEDIA_TYPE,
  LAYER_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPE,
  type Descriptor,
  type Manifest,
} from '../../core/models/manifest.js';
import { formatModelName, parseModelName, type ModelName } from '../../core/models/name.js';

type Message = [] | [message: string];
/** What a thrown or rejected error must match: its stable code, or its name for an AbortError. */
type ErrorShape = { code: string } | { name: string };

/** The part of a tap test object the suite uses; tap's `t` satisfies it. */
export interface ConformanceTest {
  test(name: string, fn: (t: ConformanceTest) => Promise<void>): unknown;
  plan(count: number, comment?: string): void;
  ok(value: unknown, ...message: Message): unknown;
  notOk(value: unknown, ...message: Message): unknown;
  equal(found: unknown, wanted: unknown, ...message: Message): unknown;
  same(found: unknown, wanted: unknown, ...message: Message): unknown;
  throws(fn: () => unknown, wanted: ErrorShape, ...message: Message): unknown;
  rejects(promise: Promise<unknown>, wanted: ErrorShape, ...message: Message): Promise<unknown>;
}

export type ConformanceStore = ModelStore & Partial<Startable>;

export interface StorageHooks {
  /** A fresh, empty store; the suite starts and stops it when it is Startable. */
  setup(): Promise<ConformanceStore>;
  teardown(store: ConformanceStore): Promise<void>;
}

export function sha256Of(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Stores the blobs of a small model and returns its manifest: a config, a GGUF-like model layer
 * and a template. Pass `sharedModel` to reuse another model's weights, as tags of one model do.
 */
export async function putTinyModel(
  store: ModelStore,
  options: { seed: string; sharedModel?: Descriptor },
): Promise<Manifest> {
  const text = (s: string) => new TextEncoder().encode(s);
  const config = await store.putBlobBytes(
    text(JSON.stringify({ model_format: 'gguf', model_family: 'llama', file_type: 'Q4_0', seed: options.seed })),
  );
  const model = options.sharedModel ?? {
    mediaType: LAYER_MEDIA_TYPES.model,
    ...(await store.putBlobBytes(Buffer.concat([text('GGUF'), randomBytes(4096)]))),
  };
  const template = await store.putBlobBytes(text(`{{ .Prompt }} ${options.seed}`));
  return {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: { mediaType: CONFIG_MEDIA_TYPE, ...config },
    layers: [model, { mediaType: LAYER_MEDIA_TYPES.template, ...template }],
  };
}

const names = {
  tiny: parseModelName('tiny'),
  tinyCopy: parseModelName('me/tiny-copy:v1'),
  other: parseModelName('other:7b'),
  withPort: parseModelName('localhost:5050/library/tiny:latest'),
};

function listed(models: { name: ModelName }[]): string[] {
  return models.map((m) => formatModelName(m.name)).sort();
}

function descriptorsOf(manifest: Manifest): Descriptor[] {
  return [manifest.config, ...manifest.layers];
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 20));

export function storageConformance(t: ConformanceTest, hooks: StorageHooks): void {
  const withStore = (name: string, body: (t: ConformanceTest, store: ConformanceStore) => Promise<void>) =>
    t.test(name, async (t) => {
      const store = await hooks.setup();
      try {
        await store.start?.();
        await body(t, store);
      } finally {
        await store.stop?.();
        await hooks.teardown(store);
      }
    });

  withStore('putManifest, getModel and listModels', async (t, store) => {
    t.same(await store.listModels(), [], 'a new store lists nothing');
    t.equal(await store.getModel(names.tiny), undefined, 'an absent model is undefined');
    const manifest = await putTinyModel(store, { seed: 'a' });
    const stored = await store.putManifest(names.tiny, manifest);
    t.same(stored.manifest, manifest, 'put returns the manifest');
    t.ok(/^sha256:[0-9a-f]{64}$/.test(stored.digest), 'the digest is a sha256 digest');
    t.equal(stored.size, descriptorsOf(manifest).reduce((sum, d) => sum + d.size, 0), 'size sums config and layers');
    t.ok(stored.modifiedAt instanceof Date, 'modifiedAt is a Date');
    const got = await store.getModel(names.tiny);
    t.same(got?.manifest, manifest, 'get returns what was put');
    t.equal(got?.digest, stored.digest, 'get reports the same digest as put');
    const withPort = await store.putManifest(names.withPort, manifest);
    t.equal(withPort.digest, stored.digest, 'equal manifests have equal digests');
    const models = await store.listModels();
    t.same(listed(models), ['localhost:5050/library/tiny:latest', 'tiny:latest'], 'list holds both names');
    t.ok(models.every((m) => m.digest === stored.digest), 'list reports the manifest digest');
  });

  withStore('putManifest replaces the manifest of an existing tag', async (t, store) => {
    await store.putManifest(names.tiny, await putTinyModel(store, { seed: 'a' }));
    const second = await putTinyModel(store, { seed: 'b' });
    const replaced = await store.putManifest(names.tiny, second);
    t.same((await store.getModel(names.tiny))?.manifest, second);
    t.equal((await store.getModel(names.tiny))?.digest, replaced.digest);
    t.equal((await store.listModels()).length, 1, 'still one model');
  });

  withStore('putManifest refuses a manifest whose blobs are missing', async (t, store) => {
    const manifest = await putTinyModel(store, { seed: 'a' });
    const missing = sha256Of(randomBytes(32));
    const broken: Manifest = { ...manifest, layers: [...manifest.layers, { mediaType: LAYER_MEDIA_TYPES.license, digest: missing, size: 32 }] };
    await t.rejects(store.putManifest(names.tiny, broken), { code: 'OD_ERR_BLOB_NOT_FOUND' });
    const noConfig: Manifest = { ...manifest, config: { ...manifest.config, digest: missing } };
    await t.rejects(store.putManifest(names.tiny, noConfig), { code: 'OD_ERR_BLOB_NOT_FOUND' }, 'a missing config too');
    t.equal(await store.getModel(names.tiny), undefined, 'nothing was written');
    t.same(await store.listModels(), []);
  });

  withStore('deleteModel removes the manifest and the blobs only it used', async (t, store) => {
    const manifest = await putTinyModel(store, { seed: 'a' });
    await store.putManifest(names.tiny, manifest);
    t.equal(await store.deleteModel(names.tiny), true, 'delete reports it existed');
    t.equal(await store.getModel(names.tiny), undefined);
    t.same(await store.listModels(), []);
    for (const d of descriptorsOf(manifest)) t.equal(await store.hasBlob(d.digest), false, `${d.mediaType} blob removed`);
    t.equal(await store.deleteModel(names.tiny), false, 'a second delete reports nothing to delete');
  });

  withStore('garbage collection keeps blobs another model still uses', async (t, store) => {
    const first = await putTinyModel(store, { seed: 'a' });
    const shared = first.layers[0]!;
    const second = await putTinyModel(store, { seed: 'b', sharedModel: shared });
    await store.putManifest(names.tiny, first);
    await store.putManifest(names.other, second);
    await store.deleteModel(names.tiny);
    t.equal(await store.hasBlob(shared.digest), true, 'the shared weights stay');
    t.equal(await store.hasBlob(first.config.digest), false, "the deleted model's own config goes");
    t.equal(await store.hasBlob(first.layers[1]!.digest), false, "the deleted model's own template goes");
    for (const d of descriptorsOf(second)) t.equal(await store.hasBlob(d.digest), true, `the other model keeps its ${d.mediaType}`);
    t.same((await store.getModel(names.other))?.manifest, second);
  });

  /** Every digest in `written` is present exactly when one of `named` references it. */
  const onlyNamedPresent = async (t: ConformanceTest, store: ModelStore, written: Iterable<string>, named: Manifest[]) => {
    const wanted = new Set(named.flatMap((m) => descriptorsOf(m).map((d) => d.digest)));
    const present: string[] = [];
    for (const digest of new Set(written)) if (await store.hasBlob(digest)) present.push(digest);
    t.same(present.sort(), [...wanted].sort(), 'the blobs present are exactly those the remaining manifests name');
  };

  withStore('re-creating a model 100 times keeps only the blobs its last manifest and the others name', async (t, store) => {
    const first = await putTinyModel(store, { seed: 'other' });
    await store.putManifest(names.other, first);
    const weights = first.layers[0]!;
    const written: string[] = descriptorsOf(first).map((d) => d.digest);
    let last = first;
    for (let i = 0; i < 100; i++) {
      last = await putTinyModel(store, { seed: `again-${i}`, sharedModel: weights });
      written.push(...descriptorsOf(last).map((d) => d.digest));
      await store.putManifest(names.tiny, last);
    }
    await onlyNamedPresent(t, store, written, [first, last]);
    t.same(listed(await store.listModels()), ['other:7b', 'tiny:latest']);
  });

  withStore('copyModel onto an existing name removes what only the replaced manifest used', async (t, store) => {
    const replaced = await putTinyModel(store, { seed: 'replaced' });
    await store.putManifest(names.tinyCopy, replaced);
    const source = await putTinyModel(store, { seed: 'source' });
    await store.putManifest(names.tiny, source);
    await store.copyModel(names.tiny, names.tinyCopy);
    await onlyNamedPresent(t, store, [...descriptorsOf(replaced), ...descriptorsOf(source)].map((d) => d.digest), [source]);
  });

  withStore('deleting every model leaves no blob behind', async (t, store) => {
    const base = await putTinyModel(store, { seed: 'base' });
    const tag = await putTinyModel(store, { seed: 'tag', sharedModel: base.layers[0]! });
    await store.putManifest(names.tiny, base);
    await store.putManifest(names.other, tag);
    await store.putManifest(names.withPort, tag);
    await store.copyModel(names.tiny, names.tinyCopy);
    for (const name of [names.other, names.tiny, names.withPort, names.tinyCopy]) await store.deleteModel(name);
    t.same(await store.listModels(), []);
    await onlyNamedPresent(t, store, [...descriptorsOf(base), ...descriptorsOf(tag)].map((d) => d.digest), []);
  });

  withStore('a blob a create has just stored survives deleting the model that had it', async (t, store) => {
    const old = await putTinyModel(store, { seed: 'a' });
    await store.putManifest(names.other, old);
    const template = old.layers[1]!;
    // A create in progress stores its template (the same text) before it writes its manifest.
    t.same(await store.putBlobBytes(new TextEncoder().encode('{{ .Prompt }} a')), { digest: template.digest, size: template.size });
    await store.deleteModel(names.other);
    t.equal(await store.hasBlob(template.digest), true, 'the template the create stored stays');
    t.equal(await store.hasBlob(old.layers[0]!.digest), false, "the deleted model's own weights go");
    const weights = await store.putBlobBytes(new TextEncoder().encode('GGUF other weights'));
    const created: Manifest = { ...old, layers: [{ mediaType: LAYER_MEDIA_TYPES.model, ...weights }, template] };
    await store.putManifest(names.tiny, { ...created, config: { ...old.config, ...(await store.putBlobBytes(new TextEncoder().encode('{}'))) } });
    const stored = (await store.getModel(names.tiny))!.manifest;
    await store.deleteModel(names.tiny);
    await onlyNamedPresent(t, store, descriptorsOf(stored).map((d) => d.digest), []);
  });

  withStore('a blob a pull found present survives deleting the model that had it', async (t, store) => {
    const old = await putTinyModel(store, { seed: 'a' });
    await store.putManifest(names.other, old);
    const weights = old.layers[0]!;
    // A pull of another tag of the same weights: the blob is present, so its writer commits at once.
    const writer = await store.openBlobWriter(weights.digest);
    t.equal(writer.offset, weights.size, 'the writer finds the blob complete');
    await writer.commit();
    await store.deleteModel(names.other);
    t.equal(await store.hasBlob(weights.digest), true, 'the weights the pull claimed stay');
    const pulled = await putTinyModel(store, { seed: 'b', sharedModel: weights });
    await store.putManifest(names.tiny, pulled);
    for (const d of descriptorsOf(pulled)) t.equal(await store.hasBlob(d.digest), true, `the pulled manifest has its ${d.mediaType}`);
  });

  withStore('a blob held by an open writer survives deleting the model that had it', async (t, store) => {
    const old = await putTinyModel(store, { seed: 'a' });
    await store.putManifest(names.other, old);
    const weights = old.layers[0]!;
    const writer = await store.openBlobWriter(weights.digest);
    await store.deleteModel(names.other);
    t.equal(await store.hasBlob(weights.digest), true, 'a writer is open on it, so it stays');
    await writer.commit();
    await store.putManifest(names.tiny, await putTinyModel(store, { seed: 'b', sharedModel: weights }));
    t.equal(await store.hasBlob(weights.digest), true);
  });

  withStore('a held blob makes its writers wait and survives deleting the model that had it', async (t, store) => {
    const old = await putTinyModel(store, { seed: 'a' });
    await store.putManifest(names.other, old);
    const weights = old.layers[0]!;
    const hold = await store.holdBlob(weights.digest);
    t.equal(hold.path, store.blobPath(weights.digest), 'the hold names the blob path');
    let writerOpen = false;
    const writer = store.openBlobWriter(weights.digest).then((w) => ((writerOpen = true), w));
    await store.deleteModel(names.other);
    t.equal(await store.hasBlob(weights.digest), true, 'a held blob stays');
    await tick();
    t.notOk(writerOpen, 'a writer of the digest waits while it is held');
    hold.claim();
    hold.release();
    const opened = await writer;
    t.equal(opened.offset, weights.size, 'then finds the blob complete');
    await opened.abort();
    await store.putManifest(names.tiny, await putTinyModel(store, { seed: 'b', sharedModel: weights }));
    t.equal(await store.hasBlob(weights.digest), true, 'a manifest can name it');
  });

  withStore('copyModel writes the same manifest under a new name', async (t, store) => {
    const manifest = await putTinyModel(store, { seed: 'a' });
    const source = await store.putManifest(names.tiny, manifest);
    const copy = await store.copyModel(names.tiny, names.tinyCopy);
    t.equal(copy.digest, source.digest, 'the copy has the same digest');
    t.same(copy.manifest, manifest);
    t.same(listed(await store.listModels()), ['me/tiny-copy:v1', 'tiny:latest']);
    await store.deleteModel(names.tiny);
    t.same((await store.getModel(names.tinyCopy))?.manifest, manifest, 'the copy survives deleting the source');
    for (const d of descriptorsOf(manifest)) t.equal(await store.hasBlob(d.digest), true, 'blobs stay for the copy');
    await t.rejects(store.copyModel(names.other, names.tiny), { code: 'OD_ERR_MODEL_NOT_FOUND' }, 'copying nothing fails');
  });

  withStore('putBlobBytes stores a small blob under its sha256', async (t, store) => {
    const bytes = new TextEncoder().encode('{"stop":["</s>"]}');
    const put = await store.putBlobBytes(bytes);
    t.same(put, { digest: sha256Of(bytes), size: bytes.byteLength });
    t.same(await store.putBlobBytes(bytes), put, 'putting it again is harmless');
    t.equal(await store.blobSize(put.digest), bytes.byteLength);
    t.same(await readAll(store.readBlob(put.digest)), Buffer.from(bytes));
  });

  withStore('readBlob reads a byte range with an exclusive end', async (t, store) => {
    const bytes = randomBytes(100_000);
    const { digest } = await store.putBlobBytes(bytes);
    t.same(await readAll(store.readBlob(digest, { start: 10, end: 20 })), bytes.subarray(10, 20));
    t.same(await readAll(store.readBlob(digest, { start: 99_990 })), bytes.subarray(99_990), 'open-ended');
    t.same(await readAll(store.readBlob(digest, { start: 5, end: 5 })), Buffer.alloc(0), 'empty range');
    const absent = sha256Of(randomBytes(8));
    await t.rejects(readAll(store.readBlob(absent)), { code: 'OD_ERR_BLOB_NOT_FOUND' }, 'an absent blob errors');
    t.equal(await store.blobSize(absent), undefined);
  });

  withStore('digests are validated before they touch storage', async (t, store) => {
    const hex = 'a'.repeat(64);
    for (const digest of ['sha256:../../../etc/passwd', `sha256-${hex}`, `sha256:${hex.toUpperCase()}`, `sha256:${hex}/..`, '']) {
      await t.rejects(store.hasBlob(digest), { code: 'OD_ERR_BAD_REQUEST' }, `hasBlob refuses '${digest}'`);
      await t.rejects(store.openBlobWriter(digest), { code: 'OD_ERR_BAD_REQUEST' }, `openBlobWriter refuses '${digest}'`);
      t.throws(() => store.blobPath(digest), { code: 'OD_ERR_BAD_REQUEST' }, `blobPath refuses '${digest}'`);
    }
  });

  withStore('a blob writer commits only a matching digest', async (t, store) => {
    const bytes = randomBytes(256 * 1024);
    const digest = sha256Of(bytes);
    const writer = await store.openBlobWriter(digest);
    t.equal(writer.digest, digest);
    t.equal(writer.offset, 0, 'a new writer starts at 0');
    for (let at = 0; at < bytes.length; at += 64 * 1024) await writer.write(bytes.subarray(at, at + 64 * 1024));
    t.equal(writer.offset, bytes.length, 'offset counts written bytes');
    t.equal(await store.hasBlob(digest), false, 'nothing is visible before commit');
    await writer.commit();
    t.equal(await store.blobSize(digest), bytes.length);
    t.same(await readAll(store.readBlob(digest)), bytes);
  });

  withStore('a digest mismatch fails the commit and leaves no blob', async (t, store) => {
    const expected = randomBytes(10_000);
    const digest = sha256Of(expected);
    const writer = await store.openBlobWriter(digest);
    await writer.write(randomBytes(10_000));
    await t.rejects(writer.commit(), { code: 'OD_ERR_DIGEST_MISMATCH' });
    t.equal(await store.hasBlob(digest), false, 'no blob appears');
    const retry = await store.openBlobWriter(digest);
    t.equal(retry.offset, 0, 'the bad bytes were discarded, not kept for resume');
    await retry.write(expected);
    await retry.commit();
    t.equal(await store.hasBlob(digest), true, 'a correct retry succeeds');
  });

  withStore('a writer resumes from a kept partial', async (t, store) => {
    const bytes = randomBytes(300_000);
    const digest = sha256Of(bytes);
    const first = await store.openBlobWriter(digest);
    await first.write(bytes.subarray(0, 123_456));
    await first.abort({ keepPartial: true });
    t.equal(await store.hasBlob(digest), false, 'a partial is not a blob');
    t.equal(await store.blobSize(digest), undefined);
    const resumed = await store.openBlobWriter(digest);
    t.equal(resumed.offset, 123_456, 'resumes where the first stopped');
    await resumed.write(bytes.subarray(123_456));
    await resumed.commit();
    t.same(await readAll(store.readBlob(digest)), bytes);

    const other = randomBytes(1000);
    const dropped = await store.openBlobWriter(sha256Of(other));
    await dropped.write(other.subarray(0, 500));
    await dropped.abort();
    const fresh = await store.openBlobWriter(sha256Of(other));
    t.equal(fresh.offset, 0, 'abort without keepPartial discards');
    await fresh.abort();
  });

  withStore('writers of one digest take turns', async (t, store) => {
    const bytes = randomBytes(50_000);
    const digest = sha256Of(bytes);
    const first = await store.openBlobWriter(digest);
    let secondOpen = false;
    const second = store.openBlobWriter(digest).then((writer) => {
      secondOpen = true;
      return writer;
    });
    await first.write(bytes.subarray(0, 20_000));
    await tick();
    t.notOk(secondOpen, 'the second writer waits while the first is open');
    await first.abort({ keepPartial: true });
    const next = await second;
    t.equal(next.offset, 20_000, 'and then continues what the first kept');

    const third = store.openBlobWriter(digest);
    await next.write(bytes.subarray(20_000));
    await next.commit();
    const late = await third;
    t.equal(late.offset, bytes.length, 'a writer opened after the commit finds the blob complete');
    await late.commit();
    t.same(await readAll(store.readBlob(digest)), bytes, 'the blob is intact');

    const held = await store.openBlobWriter(sha256Of(randomBytes(8)));
    const controller = new AbortController();
    const waiting = store.openBlobWriter(held.digest, controller.signal);
    controller.abort();
    await t.rejects(waiting, { name: 'AbortError' }, 'a waiting open can be aborted');
    await held.abort();
  });

  withStore('concurrent writers of one digest produce one intact blob', async (t, store) => {
    const bytes = randomBytes(200_000);
    const digest = sha256Of(bytes);
    const writeWhole = async () => {
      const writer = await store.openBlobWriter(digest);
      await writer.write(bytes.subarray(writer.offset));
      await writer.commit();
    };
    await Promise.all([writeWhole(), writeWhole(), writeWhole()]);
    t.same(await readAll(store.readBlob(digest)), bytes);
  });

  t.test('lifecycle: start twice, stop twice, stop without start', async (t) => {
    const fresh = await hooks.setup();
    try {
      if (!fresh.start || !fresh.stop) {
        t.plan(0, 'the store is not Startable');
        return;
      }
      await fresh.stop();
      t.ok(true, 'stop without start resolves');
      await fresh.start();
      await fresh.start();
      t.same(await fresh.listModels(), [], 'usable after a second start');
      await fresh.stop();
      await fresh.stop();
      t.ok(true, 'a second stop resolves');
    } finally {
      await hooks.teardown(fresh);
    }
  });
}
