// Finds every manifest file under manifests/<host>/<namespace>/<model>/<tag> and the model name
// its path spells, reporting anything else it meets instead of failing the walk.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestPathSegments, parseModelName, type ModelName } from '../../core/models/name.js';
import { isMissing } from './file-info.js';

export interface ManifestEntry {
  name: ModelName;
  path: string;
}

const DEPTH = 4;

export async function* walkManifests(
  manifestsDir: string,
  onStray: (path: string, reason: string) => void,
  signal?: AbortSignal,
): AsyncGenerator<ManifestEntry> {
  yield* walk(manifestsDir, [], onStray, signal);
}

async function* walk(
  dir: string,
  segments: string[],
  onStray: (path: string, reason: string) => void,
  signal?: AbortSignal,
): AsyncGenerator<ManifestEntry> {
  signal?.throwIfAborted();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    // A directory pruned by a concurrent delete is simply gone.
    if (isMissing(error)) return;
    throw error;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // Dot names are atomic writes in flight; no valid name part starts with a dot.
    if (entry.name.startsWith('.')) continue;
    const here = [...segments, entry.name];
    if (entry.isDirectory() && here.length < DEPTH) {
      yield* walk(path, here, onStray, signal);
    } else if (entry.isFile() && here.length === DEPTH) {
      const name = nameFromSegments(here);
      if (name) yield { name, path };
      else onStray(path, 'path does not spell a valid model name');
    } else {
      onStray(path, 'not a manifest file at <host>/<namespace>/<model>/<tag>');
    }
  }
}

function nameFromSegments(segments: string[]): ModelName | undefined {
  const [host, namespace, model, tag] = segments as [string, string, string, string];
  try {
    const name = parseModelName(`${host}/${namespace}/${model}:${tag}`);
    return manifestPathSegments(name).join('/') === segments.join('/') ? name : undefined;
  } catch {
    return undefined;
  }
}
