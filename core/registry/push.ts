// `push`: a model from the store to an OCI registry, blobs first (skipping those it has), then the
// manifest, with Ollama's progress statuses.

import type { ModelStore } from '../contracts/storage.js';
import { modelNotFound } from '../errors.js';
import { MANIFEST_MEDIA_TYPE } from '../models/manifest.js';
import { formatModelName, type ModelName } from '../models/name.js';
import { DEFAULT_UPLOAD_TUNING, uploadBlob, type UploadTuning } from './blob-upload.js';
import { RegistryClient } from './client.js';
import { blobProgress, type OnProgress } from './progress.js';
import { registryFailure } from './registry-error.js';
import { manifestPath, repositoryOf } from './repository.js';

export interface PushOptions {
  store: ModelStore;
  name: ModelName;
  /** Plain HTTP to the registry. */
  insecure?: boolean;
  onProgress: OnProgress;
  signal?: AbortSignal;
  tuning?: Partial<UploadTuning>;
}

export async function pushModel(options: PushOptions): Promise<void> {
  const { store, name, onProgress, signal } = options;
  const model = formatModelName(name);
  const tuning = { ...DEFAULT_UPLOAD_TUNING, ...options.tuning };
  onProgress({ status: 'retrieving manifest' });
  const stored = await store.getModel(name, signal);
  if (!stored) throw modelNotFound(model);
  const { manifest } = stored;
  const repository = repositoryOf(name);
  const client = new RegistryClient(name.host, { insecure: options.insecure, connections: 4 });
  try {
    for (const descriptor of [...manifest.layers, manifest.config]) {
      const progress = blobProgress(onProgress, 'pushing', descriptor.digest, descriptor.size);
      try {
        await uploadBlob({ client, store, repository, descriptor, signal, tuning, onBytes: (n) => progress.update(n) });
      } catch (error) {
        throw registryFailure(error, 'push model blob', `blob ${descriptor.digest} of ${model}`, client.host);
      }
      progress.done();
    }
    onProgress({ status: 'pushing manifest' });
    try {
      const response = await client.expect(
        {
          method: 'PUT',
          url: manifestPath(name),
          headers: { 'content-type': MANIFEST_MEDIA_TYPE },
          body: () => JSON.stringify(manifest),
          signal,
        },
        [200, 201, 202],
      );
      await response.body.dump();
    } catch (error) {
      throw registryFailure(error, 'push model manifest', model, client.host);
    }
    onProgress({ status: 'success' });
  } finally {
    await client.close();
  }
}
