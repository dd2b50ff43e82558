// Removing what no model needs any more: blobs no remaining manifest references, and manifest
// directories a delete left empty.

import { rm, rmdir } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import type { Logger } from '../../core/log.js';
import { isMissing } from './file-info.js';
import { readManifestFile, referencedDigests } from './manifest-io.js';
import { walkManifests } from './manifest-walk.js';
import type { StorePaths } from './paths.js';

/**
 * Digests every readable manifest references. An unreadable manifest protects nothing, as in
 * Ollama; the warning names it so an operator can repair it before its blobs are collected.
 */
export async function retainedDigests(paths: StorePaths, logger: Logger, signal?: AbortSignal): Promise<Set<string>> {
  const retained = new Set<string>();
  const onStray = (path: string, reason: string) => logger.warn({ path, reason }, 'skipping stray entry in manifests/');
  for await (const entry of walkManifests(paths.manifests, onStray, signal)) {
    try {
      const file = await readManifestFile(entry.path);
      for (const digest of file ? referencedDigests(file.manifest) : []) retained.add(digest);
    } catch (error) {
      logger.warn({ path: entry.path, err: error }, 'unreadable manifest protects no blobs');
    }
  }
  return retained;
}

/** Removes each candidate blob not in `retained`; returns how many were removed. */
export async function removeUnreferencedBlobs(
  paths: StorePaths,
  candidates: Iterable<string>,
  retained: Set<string>,
): Promise<number> {
  let removed = 0;
  for (const digest of new Set(candidates)) {
    if (retained.has(digest)) continue;
    try {
      await rm(paths.blob(digest));
      removed++;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
  return removed;
}

/** Removes `path`'s parent directories while they are empty, stopping at `stopAt`. */
export async function pruneEmptyParents(path: string, stopAt: string): Promise<void> {
  for (let dir = dirname(path); dir.startsWith(stopAt + sep); dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
      if (!isMissing(error)) throw error;
    }
  }
}
