// The sha256 digest of a model file, as Ollama names blobs: `sha256:<hex>`. A file in a model
// store is already named by its digest; any other file is hashed once per size and mtime.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { abortError } from '../../core/abort.js';

/** A store blob's file name, `sha256-<hex>`; the store checked the digest when it wrote the file. */
const BLOB_NAME = /^sha256-([0-9a-f]{64})$/;

export interface FileDigest {
  digest: string;
  size: number;
}

async function hashFile(path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const file = createReadStream(path);
  try {
    for await (const chunk of file) {
      if (signal.aborted) throw abortError(signal);
      hash.update(chunk as Buffer);
    }
  } finally {
    file.destroy();
  }
  return `sha256:${hash.digest('hex')}`;
}

export class FileDigests {
  private readonly known = new Map<string, FileDigest>();

  async of(path: string, signal: AbortSignal): Promise<FileDigest> {
    const info = await stat(path);
    const key = `${path}\0${info.size}\0${info.mtimeMs}`;
    const cached = this.known.get(key);
    if (cached) return cached;
    const named = BLOB_NAME.exec(basename(path));
    const digest = named ? `sha256:${named[1]}` : await hashFile(path, signal);
    const result = { digest, size: info.size };
    this.known.set(key, result);
    return result;
  }
}
