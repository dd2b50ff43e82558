// The fs model store: manifests and blobs in Ollama's own layout under storage.model_dir, so a
// local Ollama can share it. Manifest changes run one at a time so collection never races a put.

import { mkdir, open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Startable } from '../../core/contracts/plugin.js';
import type { BlobHold, BlobWriter, ModelStore, StoredModel } from '../../core/contracts/storage.js';
import { badRequest, modelNotFound, ProductError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { MANIFEST_MEDIA_TYPE, manifestProblem, type Manifest } from '../../core/models/manifest.js';
import { formatModelName, type ModelName } from '../../core/models/name.js';
import { writeFileAtomic } from './atomic-write.js';
import { openFsBlobWriter, type FsBlobWriter } from './blob-writer.js';
import { fileSize, isMissing, touch } from './file-info.js';
import { pruneEmptyParents, pruneStore, removeUnreferencedBlobs, retainedDigests } from './gc.js';
import { acquireLock, withLock } from './lock.js';
import { encodeManifest, manifestSize, readManifestFile, referencedDigests, sha256Digest, type ManifestFile } from './manifest-io.js';
import { ManifestCache } from './manifest-cache.js';
import { walkManifests } from './manifest-walk.js';
import { storePaths, type StorePaths } from './paths.js';
import { BLOB_GRACE_MS, pendingBlobsFor, type PendingBlobs } from './pending-blobs.js';

export interface FsStoreOptions {
  /** Ollama's OLLAMA_NOPRUNE: no prune at start, and a replaced manifest's blobs stay. A delete still removes its own. */
  noprune?: boolean;
}

export class FsModelStore implements ModelStore, Startable {
  readonly root: string;
  readonly #paths: StorePaths;
  readonly #logger: Logger;
  /** Lock key for manifest writes and deletes, shared by every store on this root. */
  readonly #manifestsKey: string;
  readonly #openWriters = new Set<FsBlobWriter>();
  readonly #pending: PendingBlobs;
  readonly #noprune: boolean;
  readonly #manifests = new ManifestCache();

  constructor(modelDir: string, logger: Logger, options: FsStoreOptions = {}) {
    this.#paths = storePaths(modelDir);
    this.root = this.#paths.root;
    this.#logger = logger;
    this.#manifestsKey = `${this.#paths.manifests}#mutations`;
    this.#pending = pendingBlobsFor(this.root);
    this.#noprune = options.noprune ?? false;
  }

  async start(): Promise<void> {
    await mkdir(this.#paths.blobs, { recursive: true });
    await mkdir(this.#paths.manifests, { recursive: true });
    if (this.#noprune) return;
    const report = await withLock(this.#manifestsKey, undefined, () =>
      pruneStore(this.#paths, { pending: this.#pending, logger: this.#logger, graceMs: BLOB_GRACE_MS }),
    );
    this.#logger.info(report, 'pruned the model store');
  }

  /** Open writers keep what they wrote so the next start resumes instead of starting over. */
  async stop(): Promise<void> {
    await Promise.all([...this.#openWriters].map((writer) => writer.abort({ keepPartial: true })));
  }

  async listModels(signal?: AbortSignal): Promise<StoredModel[]> {
    const models: StoredModel[] = [];
    const onStray = (path: string, reason: string) => this.#logger.warn({ path, reason }, 'skipping stray entry in manifests/');
    for await (const entry of walkManifests(this.#paths.manifests, onStray, signal)) {
      try {
        const file = await readManifestFile(entry.path);
        if (file) models.push(storedModel(entry.name, file));
      } catch (error) {
        this.#logger.warn({ path: entry.path, err: error }, 'skipping unreadable manifest');
      }
    }
    return models;
  }

  async getModel(name: ModelName, signal?: AbortSignal): Promise<StoredModel | undefined> {
    signal?.throwIfAborted();
    const file = await this.#manifests.read(this.#paths.manifest(name));
    return file && storedModel(name, file);
  }

  async putManifest(name: ModelName, manifest: Manifest, signal?: AbortSignal): Promise<StoredModel> {
    const problem = manifestProblem(manifest) ?? (manifest.mediaType === MANIFEST_MEDIA_TYPE ? undefined : 'manifest mediaType is not Docker v2');
    if (problem) throw badRequest(problem);
    const path = this.#paths.manifest(name);
    return withLock(this.#manifestsKey, signal, async () => {
      for (const descriptor of [manifest.config, ...manifest.layers]) {
        const size = await fileSize(this.#paths.blob(descriptor.digest));
        if (size === undefined) {
          throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `blob ${descriptor.digest} of ${formatModelName(name)} is not in the store`);
        }
        if (size !== descriptor.size) {
          throw badRequest(`blob ${descriptor.digest} has ${size} bytes, the manifest says ${descriptor.size}`);
        }
      }
      const replaced = await this.#replacedDigests(path);
      await writeFileAtomic(path, encodeManifest(manifest));
      this.#manifests.forget(path);
      this.#pending.settle(referencedDigests(manifest));
      const stored = storedModel(name, await this.#readWritten(path));
      await this.#collectReplaced(name, replaced);
      return stored;
    });
  }

  async deleteModel(name: ModelName, signal?: AbortSignal): Promise<boolean> {
    const path = this.#paths.manifest(name);
    return withLock(this.#manifestsKey, signal, async () => {
      let candidates: string[] = [];
      try {
        const file = await readManifestFile(path);
        if (!file) return false;
        candidates = referencedDigests(file.manifest);
      } catch (error) {
        if (!(error instanceof ProductError)) throw error;
        // An unreadable manifest can still be deleted; its blobs are left for a later collection.
        this.#logger.warn({ path, err: error }, 'deleting unreadable manifest');
      }
      try {
        await rm(path);
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      } finally {
        this.#manifests.forget(path);
      }
      await pruneEmptyParents(path, this.#paths.manifests);
      const removed = await this.#collect(candidates);
      this.#logger.debug({ model: formatModelName(name), removedBlobs: removed }, 'model deleted');
      return true;
    });
  }

  async copyModel(source: ModelName, destination: ModelName, signal?: AbortSignal): Promise<StoredModel> {
    const from = this.#paths.manifest(source);
    const to = this.#paths.manifest(destination);
    return withLock(this.#manifestsKey, signal, async () => {
      const file = await readManifestFile(from);
      if (!file) throw modelNotFound(formatModelName(source));
      if (to === from) return storedModel(destination, file);
      const replaced = await this.#replacedDigests(to);
      // The bytes are copied as they are, so the copy reports the same digest.
      await writeFileAtomic(to, file.bytes);
      this.#manifests.forget(to);
      const stored = storedModel(destination, await this.#readWritten(to));
      await this.#collectReplaced(destination, replaced);
      return stored;
    });
  }

  async hasBlob(digest: string): Promise<boolean> {
    return (await this.blobSize(digest)) !== undefined;
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return fileSize(this.#paths.blob(digest));
  }

  blobPath(digest: string): string {
    return this.#paths.blob(digest);
  }

  /** `end` is exclusive, as in `Uint8Array.subarray`. */
  readBlob(digest: string, range?: { start: number; end?: number }): Readable {
    const path = this.#paths.blob(digest);
    const start = range?.start ?? 0;
    const end = range?.end;
    if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
      throw badRequest(`invalid byte range ${start}-${end ?? ''} of ${digest}`);
    }
    return Readable.from(blobBytes(path, digest, start, end), { objectMode: false });
  }

  async openBlobWriter(digest: string, signal?: AbortSignal): Promise<BlobWriter> {
    const writer = await openFsBlobWriter(
      this.#paths,
      digest,
      { pending: this.#pending, onSettled: (settled) => this.#openWriters.delete(settled) },
      signal,
    );
    this.#openWriters.add(writer);
    return writer;
  }

  /** The writers' lock, so a copy from peers and a pull of one digest take turns, and collection skips it. */
  async holdBlob(digest: string, signal?: AbortSignal): Promise<BlobHold> {
    const path = this.#paths.blob(digest);
    const release = await acquireLock(this.#paths.partialBlob(digest), signal);
    return { digest, path, claim: () => this.#pending.claim(digest), release };
  }

  async putBlobBytes(bytes: Uint8Array, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
    signal?.throwIfAborted();
    const digest = sha256Digest(bytes);
    const path = this.#paths.blob(digest);
    // The writer lock orders this against collection, as for a blob writer.
    const release = await acquireLock(this.#paths.partialBlob(digest), signal);
    try {
      if ((await fileSize(path)) === undefined) await writeFileAtomic(path, bytes);
      else await touch(path);
      this.#pending.claim(digest);
    } finally {
      release();
    }
    return { digest, size: bytes.byteLength };
  }

  /** What the manifest at `path` names, before it is replaced; nothing when there is none to read. */
  async #replacedDigests(path: string): Promise<string[]> {
    try {
      const file = await readManifestFile(path);
      return file ? referencedDigests(file.manifest) : [];
    } catch (error) {
      if (!(error instanceof ProductError)) throw error;
      return [];
    }
  }

  async #collectReplaced(name: ModelName, candidates: string[]): Promise<void> {
    if (this.#noprune || candidates.length === 0) return;
    const removed = await this.#collect(candidates);
    this.#logger.debug({ model: formatModelName(name), removedBlobs: removed }, 'replaced manifest collected');
  }

  /** Removes the candidates no manifest names; runs under the manifests lock, so no put interleaves. */
  async #collect(candidates: string[]): Promise<number> {
    const retained = await retainedDigests(this.#paths, this.#logger);
    return removeUnreferencedBlobs(this.#paths, candidates, retained.digests, this.#pending);
  }

  async #readWritten(path: string): Promise<ManifestFile> {
    const file = await readManifestFile(path);
    if (!file) throw new ProductError('OD_ERR_INTERNAL', `manifest ${path} vanished right after it was written`);
    return file;
  }
}

function storedModel(name: ModelName, file: ManifestFile): StoredModel {
  return { name, manifest: file.manifest, digest: file.digest, size: manifestSize(file.manifest), modifiedAt: file.modifiedAt };
}

async function* blobBytes(path: string, digest: string, start: number, end: number | undefined): AsyncGenerator<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isMissing(error)) throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `blob ${digest} is not in the store`);
    throw error;
  }
  try {
    if (end === start) return;
    const stream = handle.createReadStream({ start, autoClose: false, ...(end === undefined ? {} : { end: end - 1 }) });
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    await handle.close();
  }
}
