// The store work the crash tests interrupt: three models written beforehand, then a re-create of
// one (blobs, a manifest over the old one), a copy onto another and a delete of the third.

import { createHash } from 'node:crypto';
import type { ModelStore } from '../../../core/contracts/storage.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE, type Manifest } from '../../../core/models/manifest.js';
import { parseModelName } from '../../../core/models/name.js';
import { seededBytes } from '../../../core/registry/testing/model.js';

export const names = {
  recreated: parseModelName('tiny'),
  copiedOnto: parseModelName('other'),
  deleted: parseModelName('gone'),
};

interface ModelBytes {
  config: Buffer;
  weights: Buffer;
  template: Buffer;
}

const MiB = 1024 * 1024;

/** Weights over the writer's 4 MiB flush size, so a blob reaches the disk in more than one write. */
function modelBytes(seed: number, weightBytes = 5 * MiB): ModelBytes {
  return {
    config: Buffer.from(JSON.stringify({ model_format: 'gguf', model_family: 'llama', seed })),
    weights: Buffer.concat([Buffer.from('GGUF'), seededBytes(weightBytes, seed)]),
    template: Buffer.from(`{{ .Prompt }} ${seed}`),
  };
}

const digest = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function manifestOf(bytes: ModelBytes): Manifest {
  const descriptor = (mediaType: string, b: Buffer) => ({ mediaType, digest: digest(b), size: b.byteLength });
  return {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: descriptor(CONFIG_MEDIA_TYPE, bytes.config),
    layers: [descriptor(LAYER_MEDIA_TYPES.model, bytes.weights), descriptor(LAYER_MEDIA_TYPES.template, bytes.template)],
  };
}

const before = { recreated: modelBytes(1, MiB), copiedOnto: modelBytes(2, MiB), deleted: modelBytes(3, MiB) };
const after = modelBytes(4);

/** What each name holds before the work and after it. */
export const expected = {
  before: { recreated: manifestOf(before.recreated), copiedOnto: manifestOf(before.copiedOnto), deleted: manifestOf(before.deleted) },
  after: manifestOf(after),
};

async function writeModel(store: ModelStore, bytes: ModelBytes): Promise<Manifest> {
  await store.putBlobBytes(bytes.config);
  const writer = await store.openBlobWriter(digest(bytes.weights));
  for (let at = writer.offset; at < bytes.weights.byteLength; at += 256 * 1024) {
    await writer.write(bytes.weights.subarray(at, Math.min(bytes.weights.byteLength, at + 256 * 1024)));
  }
  await writer.commit();
  await store.putBlobBytes(bytes.template);
  return manifestOf(bytes);
}

export async function writeBefore(store: ModelStore): Promise<void> {
  await store.putManifest(names.recreated, await writeModel(store, before.recreated));
  await store.putManifest(names.copiedOnto, await writeModel(store, before.copiedOnto));
  await store.putManifest(names.deleted, await writeModel(store, before.deleted));
}

/** Safe to run again after a crash: it resumes a kept partial and rewrites what is already there. */
export async function doTheWork(store: ModelStore): Promise<void> {
  await store.putManifest(names.recreated, await writeModel(store, after));
  await store.copyModel(names.recreated, names.copiedOnto);
  await store.deleteModel(names.deleted);
}
