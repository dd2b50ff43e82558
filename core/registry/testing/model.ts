// Writes a model of a chosen size into a store: seeded bytes for the model layer plus a config,
// template and params, so registry tests can move realistic manifests without parsing GGUF.

import { createHash } from 'node:crypto';
import type { ModelStore, StoredModel } from '../../contracts/storage.js';
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES, MANIFEST_MEDIA_TYPE, type Descriptor } from '../../models/manifest.js';
import type { ModelName } from '../../models/name.js';

/** Deterministic bytes (xorshift), fast enough for hundreds of MiB. */
export function seededBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(size + ((4 - (size % 4)) % 4));
  let state = seed >>> 0 || 1;
  for (let i = 0; i < bytes.length; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes.writeUInt32LE(state >>> 0, i);
  }
  return bytes.subarray(0, size);
}

export async function writeModel(store: ModelStore, name: ModelName, modelBytes: Uint8Array): Promise<StoredModel> {
  const digest = `sha256:${createHash('sha256').update(modelBytes).digest('hex')}`;
  const writer = await store.openBlobWriter(digest);
  const step = 8 * 1024 * 1024;
  for (let offset = writer.offset; offset < modelBytes.byteLength; offset += step) {
    await writer.write(modelBytes.subarray(offset, Math.min(modelBytes.byteLength, offset + step)));
  }
  await writer.commit();
  const layer = async (mediaType: string, text: string): Promise<Descriptor> => ({ mediaType, ...(await store.putBlobBytes(Buffer.from(text))) });
  const layers = [
    { mediaType: LAYER_MEDIA_TYPES.model, digest, size: modelBytes.byteLength },
    await layer(LAYER_MEDIA_TYPES.template, '{{ .Prompt }}'),
    await layer(LAYER_MEDIA_TYPES.params, JSON.stringify({ temperature: 0 })),
  ];
  const config = await layer(
    CONFIG_MEDIA_TYPE,
    JSON.stringify({
      model_format: 'gguf',
      model_family: 'llama',
      model_families: ['llama'],
      model_type: 'tiny',
      file_type: 'F32',
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  return store.putManifest(name, { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config, layers });
}
