// Removing what no model needs any more: blobs no manifest names once a model is deleted or
// replaced, and at start every unnamed blob, stale partial and leftover temporary file, as Ollama does.

import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import type { Logger } from '../../core/log.js';
import { isMissing } from './file-info.js';
import { tryAcquireLock } from './lock.js';
import { readManifestFile, referencedDigests } from './manifest-io.js';
import { walkManifests } from './manifest-walk.js';
import type { StorePaths } from './paths.js';
import type { PendingBlobs } from './pending-blobs.js';

export interface Retained {
  digests: Set<string>;
  /** Manifests that could not be read, so whatever they name is unknown. */
  unreadable: string[];
}

/**
 * Digests every readable manifest references. An unreadable manifest protects nothing when a
 * delete collects, as in Ollama; the warning names it so an operator can repair it.
 */
export async function retainedDigests(paths: StorePaths, logger: Logger, signal?: AbortSignal): Promise<Retained> {
  const retained: Retained = { digests: new Set(), unreadable: [] };
  const onStray = (path: string, reason: string) => logger.warn({ path, reason }, 'skipping stray entry in manifests/');
  for await (const entry of walkManifests(paths.manifests, onStray, signal)) {
    try {
      const file = await readManifestFile(entry.path);
      for (const digest of file ? referencedDigests(file.manifest) : []) retained.digests.add(digest);
    } catch (error) {
      retained.unreadable.push(entry.path);
      logger.warn({ path: entry.path, err: error }, 'unreadable manifest protects no blobs');
    }
  }
  return retained;
}

/**
 * Removes each candidate blob that no manifest names, no open writer holds and no create or pull
 * in progress has pending; returns how many were removed.
 */
export async function removeUnreferencedBlobs(
  paths: StorePaths,
  candidates: Iterable<string>,
  retained: Set<string>,
  pending: PendingBlobs,
): Promise<number> {
  let removed = 0;
  for (const digest of new Set(candidates)) {
    if (retained.has(digest)) continue;
    if (await removeUnlessHeld(paths, digest, paths.blob(digest), pending)) removed++;
  }
  return removed;
}

/**
 * Takes the digest's writer lock for the check and the removal: a writer that opened first keeps
 * the blob, one that opens after finds it gone and writes it again.
 */
async function removeUnlessHeld(paths: StorePaths, digest: string, path: string, pending: PendingBlobs): Promise<boolean> {
  const release = tryAcquireLock(paths.partialBlob(digest));
  if (!release) return false;
  try {
    if (pending.has(digest)) return false;
    await rm(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  } finally {
    release();
  }
}

/** Removes `path`'s parent directories while they are empty, stopping at `stopAt`. */
export async function pruneEmptyParents(path: string, stopAt: string): Promise<void> {
  for (let dir = dirname(path); dir.startsWith(stopAt + sep); dir = dirname(dir)) {
    if (!(await removeIfEmpty(dir))) return;
  }
}

const BLOB_NAME = /^sha256-([0-9a-f]{64})$/;
/**
 * `-partial` is this store's and Ollama's download in progress; Ollama adds `-partial-<n>` part
 * files, and a copy from peers its `-partial.chunks` list of verified chunks (core/distribution/partial-blob.ts).
 */
const PARTIAL_NAME = /^sha256-([0-9a-f]{64})-partial(-\d+|\.chunks)?$/;
/** What writeFileAtomic writes before its rename. */
const TEMPORARY_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

export type PruneVerdict = { action: 'keep' } | { action: 'remove'; what: 'blob' | 'partial' | 'temporary'; digest?: string } | { action: 'stray' };

export interface PruneRules {
  graceMs: number;
  /** False when an unreadable manifest may name any blob: then no blob is collected. */
  collectBlobs: boolean;
  /** A manifest names it or a create or pull in progress has it pending. */
  inUse(digest: string): boolean;
}

/** What a start-up prune does with one file in blobs/; anything written within the grace period stays. */
export function pruneVerdict(name: string, ageMs: number, rules: PruneRules): PruneVerdict {
  const blob = BLOB_NAME.exec(name);
  const partial = blob ? null : PARTIAL_NAME.exec(name);
  const temporary = TEMPORARY_NAME.test(name);
  if (!blob && !partial && !temporary) return { action: 'stray' };
  if (ageMs < rules.graceMs) return { action: 'keep' };
  if (temporary) return { action: 'remove', what: 'temporary' };
  const digest = `sha256:${(blob ?? partial)![1]}`;
  if (partial) return { action: 'remove', what: 'partial', digest };
  return rules.collectBlobs && !rules.inUse(digest) ? { action: 'remove', what: 'blob', digest } : { action: 'keep' };
}

export interface PruneReport {
  blobs: number;
  partials: number;
  temporaries: number;
}

/**
 * Ollama's start-up prune: every blob no manifest names, every partial and temporary file older
 * than the grace period, and manifest directories left empty. A blob written within the grace
 * period may belong to a create or pull of another process sharing the store, so it stays.
 */
export async function pruneStore(
  paths: StorePaths,
  options: { pending: PendingBlobs; logger: Logger; graceMs: number; now?: number },
): Promise<PruneReport> {
  const { pending, logger, graceMs } = options;
  const now = options.now ?? Date.now();
  const retained = await retainedDigests(paths, logger);
  const collectBlobs = retained.unreadable.length === 0;
  if (!collectBlobs) {
    logger.warn({ manifests: retained.unreadable }, 'unreadable manifests: no blob is pruned until they are repaired or deleted');
  }
  const rules: PruneRules = { graceMs, collectBlobs, inUse: (digest) => retained.digests.has(digest) || pending.has(digest) };
  const report: PruneReport = { blobs: 0, partials: 0, temporaries: await pruneManifestDirectories(paths.manifests, now, graceMs) };
  for (const entry of await readdir(paths.blobs, { withFileTypes: true })) {
    const path = join(paths.blobs, entry.name);
    const ageMs = await ageOf(path, now);
    if (ageMs === undefined) continue;
    const verdict = entry.isFile() ? pruneVerdict(entry.name, ageMs, rules) : ({ action: 'stray' } as const);
    if (verdict.action === 'stray') {
      logger.warn({ path }, 'leaving a file in blobs/ that is neither a blob nor a partial');
    } else if (verdict.action === 'remove') {
      const removed = verdict.digest ? await removeUnlessHeld(paths, verdict.digest, path, pending) : await removeFile(path);
      if (removed) report[verdict.what === 'blob' ? 'blobs' : verdict.what === 'partial' ? 'partials' : 'temporaries']++;
    }
  }
  return report;
}

/** Ollama's PruneDirectory, plus temporary files of manifest writes a crash left behind. */
async function pruneManifestDirectories(dir: string, now: number, graceMs: number): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += await pruneManifestDirectories(path, now, graceMs);
      await removeIfEmpty(path);
    } else if (TEMPORARY_NAME.test(entry.name) && ((await ageOf(path, now)) ?? 0) >= graceMs && (await removeFile(path))) {
      removed++;
    }
  }
  return removed;
}

async function ageOf(path: string, now: number): Promise<number | undefined> {
  try {
    return now - (await lstat(path)).mtimeMs;
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function removeFile(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    if (isMissing(error)) return true;
    throw error;
  }
}
