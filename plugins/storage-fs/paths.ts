// Where each thing lives in the store, exactly as Ollama lays it out: blobs/sha256-<hex> and
// manifests/<host>/<namespace>/<model>/<tag>. Every path is checked to stay inside the root.

import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ProductError } from '../../core/errors.js';
import { isDigest } from '../../core/models/manifest.js';
import { manifestPathSegments, type ModelName } from '../../core/models/name.js';

const BLOB_PREFIX = 'sha256-';
/** Ollama's own suffix for a download in progress; its startup prune removes leftovers. */
const PARTIAL_SUFFIX = '-partial';

export interface StorePaths {
  readonly root: string;
  readonly blobs: string;
  readonly manifests: string;
  blob(digest: string): string;
  partialBlob(digest: string): string;
  manifest(name: ModelName): string;
}

/** Manifest paths kept per store: every request resolves its model's, by the same few names. */
const MAX_MANIFEST_PATHS = 1024;

export function storePaths(modelDir: string): StorePaths {
  const root = resolve(modelDir);
  const manifestPaths = new Map<string, string>();
  const blobs = join(root, 'blobs');
  const manifests = join(root, 'manifests');
  const blob = (digest: string) => {
    if (!isDigest(digest)) throw new ProductError('OD_ERR_BAD_REQUEST', `invalid digest '${digest}'`);
    return insideOf(blobs, join(blobs, blobFileName(digest)));
  };
  return {
    root,
    blobs,
    manifests,
    blob,
    partialBlob: (digest) => blob(digest) + PARTIAL_SUFFIX,
    manifest: (name) => {
      const key = `${name.host}\0${name.namespace}\0${name.model}\0${name.tag}`;
      let path = manifestPaths.get(key);
      if (path === undefined) {
        path = insideOf(manifests, join(manifests, ...manifestPathSegments(name)));
        if (manifestPaths.size >= MAX_MANIFEST_PATHS) manifestPaths.delete(manifestPaths.keys().next().value!);
        manifestPaths.set(key, path);
      }
      return path;
    },
  };
}

/** `sha256:<hex>` becomes the file name `sha256-<hex>`, as Ollama names blobs. */
function blobFileName(digest: string): string {
  return BLOB_PREFIX + digest.slice('sha256:'.length);
}

function insideOf(dir: string, path: string): string {
  const rel = relative(dir, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new ProductError('OD_ERR_BAD_REQUEST', `path '${path}' escapes the model store`);
  }
  return path;
}
