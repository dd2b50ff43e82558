// Manifests kept in memory while their file stays the same: every request resolves its model by
// manifest, and a stat tells a changed file (written here or by an Ollama sharing the store) at once.

import { statSync, type BigIntStats } from 'node:fs';
import { readManifestFile, type ManifestFile } from './manifest-io.js';

/** Enough for every model of a large store; past it the oldest entry goes. */
const MAX_ENTRIES = 1024;

type Signature = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

interface Entry {
  signature: Signature;
  file: ManifestFile;
}

/**
 * What changes whenever the file does: a replacement by rename is another inode, a rewrite in
 * place moves the times. Undefined when there is no file. A stat on the event loop takes a few µs;
 * the file read it saves takes several thread-pool round trips.
 */
function signatureOf(path: string): Signature | undefined {
  return statSync(path, { bigint: true, throwIfNoEntry: false });
}

/** Compared field by field: printing the five numbers would cost more than the stat. */
function sameFile(a: Signature, b: Signature): boolean {
  return a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.size === b.size && a.dev === b.dev;
}

function frozen(file: ManifestFile): ManifestFile {
  const { manifest } = file;
  Object.freeze(manifest.config);
  manifest.layers.forEach((layer) => Object.freeze(layer));
  Object.freeze(manifest.layers);
  return Object.freeze({ ...file, manifest: Object.freeze(manifest) });
}

export class ManifestCache {
  private readonly entries = new Map<string, Entry>();

  /** Like readManifestFile; the result is shared between callers and frozen. */
  async read(path: string): Promise<ManifestFile | undefined> {
    let signature: Signature | undefined;
    try {
      signature = signatureOf(path);
    } catch {
      // A stat that fails (a file where a directory should be, no permission): the read words it.
      this.entries.delete(path);
      return readManifestFile(path);
    }
    if (signature === undefined) {
      this.entries.delete(path);
      return undefined;
    }
    const cached = this.entries.get(path);
    if (cached && sameFile(cached.signature, signature)) return cached.file;
    // Stat first, then read: a file replaced in between is read again next time, never kept stale.
    const file = await readManifestFile(path);
    if (!file) {
      this.entries.delete(path);
      return undefined;
    }
    if (!this.entries.has(path) && this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    const { dev, ino, size, mtimeNs, ctimeNs } = signature;
    const entry = { signature: { dev, ino, size, mtimeNs, ctimeNs }, file: frozen(file) };
    this.entries.set(path, entry);
    return entry.file;
  }

  /** The store changed this manifest itself: no stat can miss it, however coarse the file times. */
  forget(path: string): void {
    this.entries.delete(path);
  }
}
