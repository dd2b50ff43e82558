// Manifest files as Ollama writes them: compact Docker v2 JSON in Ollama's field order, whose
// sha256 is the digest /api/tags reports for the model.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ProductError } from '../../core/errors.js';
import { manifestProblem, type Descriptor, type Manifest } from '../../core/models/manifest.js';
import { isMissing } from './file-info.js';

export interface ManifestFile {
  manifest: Manifest;
  /** `sha256:<hex>` of the file's bytes. */
  digest: string;
  bytes: Uint8Array;
  modifiedAt: Date;
}

/** Serializes with Ollama's field order and nothing else, so equal manifests get equal digests. */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const descriptor = (d: Descriptor) => ({
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.from ? { from: d.from } : {}),
  });
  const json = JSON.stringify({
    schemaVersion: manifest.schemaVersion,
    mediaType: manifest.mediaType,
    config: descriptor(manifest.config),
    layers: manifest.layers.map(descriptor),
  });
  return new TextEncoder().encode(json);
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function manifestSize(manifest: Manifest): number {
  return manifest.layers.reduce((sum, layer) => sum + layer.size, manifest.config.size);
}

/** Every blob a manifest points to. */
export function referencedDigests(manifest: Manifest): string[] {
  return [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)];
}

/** Undefined when there is no file; throws when the file is not a manifest this store can serve. */
export async function readManifestFile(path: string): Promise<ManifestFile | undefined> {
  let bytes: Buffer;
  let modifiedAt: Date;
  try {
    [bytes, modifiedAt] = await Promise.all([readFile(path), stat(path).then((info) => info.mtime)]);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ProductError('OD_ERR_INTERNAL', `manifest ${path} is not JSON`, { cause: error });
  }
  const problem = manifestProblem(parsed);
  if (problem) throw new ProductError('OD_ERR_INTERNAL', `manifest ${path}: ${problem}`);
  return { manifest: parsed as Manifest, digest: sha256Digest(bytes), bytes, modifiedAt };
}
