// Where a model lives in the OCI distribution v2 API: its repository (`namespace/model`, lower
// case as the spec requires) and the paths of its manifests, blobs and uploads.

import type { ModelName } from '../models/name.js';

export function repositoryOf(name: ModelName): string {
  return `${name.namespace.toLowerCase()}/${name.model.toLowerCase()}`;
}

export function manifestPath(name: ModelName): string {
  return `/v2/${repositoryOf(name)}/manifests/${encodeURIComponent(name.tag)}`;
}

export function blobPath(repository: string, digest: string): string {
  return `/v2/${repository}/blobs/${digest}`;
}

export function uploadsPath(repository: string): string {
  return `/v2/${repository}/blobs/uploads/`;
}
