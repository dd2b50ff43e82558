// `pull`: a model's manifest and blobs from an OCI registry into the store, with Ollama's progress
// statuses. Each blob is sha256-checked as it commits; the manifest is written only after all are in.

import { createHash } from 'node:crypto';
import type { ModelStore, StoredModel } from '../contracts/storage.js';
import { ProductError } from '../errors.js';
import { MANIFEST_MEDIA_TYPE, manifestProblem, type Descriptor, type Manifest } from '../models/manifest.js';
import { formatModelName, type ModelName } from '../models/name.js';
import { downloadBlob, DEFAULT_DOWNLOAD_TUNING, type DownloadTuning } from './blob-download.js';
import { RegistryClient } from './client.js';
import { blobProgress, blobStatus, type OnProgress } from './progress.js';
import { RegistryError, RegistryProtocolError, registryFailure } from './registry-error.js';
import { manifestPath, repositoryOf } from './repository.js';

export interface PullOptions {
  store: ModelStore;
  name: ModelName;
  /** Plain HTTP to the registry. */
  insecure?: boolean;
  onProgress: OnProgress;
  signal?: AbortSignal;
  tuning?: Partial<DownloadTuning>;
}

/** Manifests are small JSON documents; anything this big is not one. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

export async function pullModel(options: PullOptions): Promise<StoredModel> {
  const { store, name, onProgress, signal } = options;
  const model = formatModelName(name);
  const tuning = { ...DEFAULT_DOWNLOAD_TUNING, ...options.tuning };
  const client = new RegistryClient(name.host, { insecure: options.insecure, connections: tuning.parallel + 2 });
  try {
    onProgress({ status: 'pulling manifest' });
    let manifest: Manifest;
    try {
      manifest = await fetchManifest(client, name, signal);
    } catch (error) {
      throw registryFailure(error, 'pull model manifest', model, client.host, model);
    }
    for (const descriptor of [...manifest.layers, manifest.config]) {
      await pullBlob({ client, store, name, descriptor, onProgress, signal, tuning });
    }
    // Each blob's digest was checked as it committed; the status keeps Ollama's sequence for clients.
    onProgress({ status: 'verifying sha256 digest' });
    onProgress({ status: 'writing manifest' });
    const stored = await store.putManifest(name, manifest, signal);
    onProgress({ status: 'success' });
    return stored;
  } finally {
    await client.close();
  }
}

async function fetchManifest(client: RegistryClient, name: ModelName, signal?: AbortSignal): Promise<Manifest> {
  const response = await client.expect(
    {
      method: 'GET',
      url: manifestPath(name),
      headers: { accept: MANIFEST_MEDIA_TYPE },
      signal,
    },
    [200],
  );
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of response.body) {
    length += (chunk as Buffer).byteLength;
    if (length > MANIFEST_LIMIT) {
      response.body.destroy();
      throw new RegistryProtocolError(`manifest is larger than ${MANIFEST_LIMIT} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const announced = response.headers['docker-content-digest'];
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (typeof announced === 'string' && announced.startsWith('sha256:') && announced !== actual) {
    throw new RegistryProtocolError(`manifest hashes to ${actual}, the registry says ${announced}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryProtocolError('manifest is not JSON');
  }
  const problem = manifestProblem(parsed);
  if (problem) throw new RegistryProtocolError(problem);
  const manifest = parsed as Manifest;
  if (manifest.mediaType !== MANIFEST_MEDIA_TYPE) {
    throw new RegistryProtocolError(`manifest media type '${String(manifest.mediaType)}' is not a Docker v2 image manifest (an Ollama model)`);
  }
  return manifest;
}

interface BlobPull {
  client: RegistryClient;
  store: ModelStore;
  name: ModelName;
  descriptor: Descriptor;
  onProgress: OnProgress;
  signal?: AbortSignal;
  tuning: DownloadTuning;
}

async function pullBlob(pull: BlobPull): Promise<void> {
  const { store, descriptor, signal } = pull;
  const { digest, size } = descriptor;
  // A writer even for a blob already present: its commit claims the blob for this pull, so a
  // concurrent delete of another model that shares it leaves it for this manifest.
  let writer = await store.openBlobWriter(digest, signal);
  if (writer.offset === size && (await store.hasBlob(digest))) {
    await writer.commit(signal);
    pull.onProgress({ status: blobStatus('pulling', digest), digest, total: size, completed: size });
    return;
  }
  const progress = blobProgress(pull.onProgress, 'pulling', digest, size);
  // A partial longer than the blob cannot be a prefix of it.
  if (writer.offset > size) {
    await writer.abort();
    writer = await store.openBlobWriter(digest, signal);
  }
  const resumedFrom = writer.offset;
  try {
    await downloadBlob({ ...pull, repository: repositoryOf(pull.name), writer, onBytes: (n) => progress.update(n) });
    await writer.commit(signal);
  } catch (error) {
    await writer.abort({ keepPartial: true });
    if (isDigestMismatch(error) && resumedFrom > 0) {
      // The kept prefix may be what was wrong (the commit removed it): fetch the whole blob once.
      return pullBlob(pull);
    }
    throw blobFailure(error, pull);
  }
  progress.done();
}

function isDigestMismatch(error: unknown): boolean {
  return error instanceof ProductError && error.code === 'OD_ERR_DIGEST_MISMATCH';
}

function blobFailure(error: unknown, pull: BlobPull): unknown {
  const model = formatModelName(pull.name);
  const { digest } = pull.descriptor;
  if (isDigestMismatch(error)) {
    return new RegistryError(
      `digest mismatch, file must be downloaded again: registry ${pull.client.host} served blob ${digest} of ${model} with other bytes (${(error as Error).message})`,
      502,
      { cause: error },
    );
  }
  const blob = `blob ${digest} of ${model}`;
  return registryFailure(error, 'pull model blob', blob, pull.client.host, blob);
}
