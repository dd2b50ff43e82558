// The model store contract: manifests and blobs in Ollama's own on-disk layout, so one store can
// be shared with a local Ollama. Implementations: plugins/storage-fs.

import type { Readable } from 'node:stream';
import type { ModelName } from '../models/name.js';
import type { Manifest } from '../models/manifest.js';

export interface StoredModel {
  name: ModelName;
  manifest: Manifest;
  /** `sha256:<hex>` of the manifest file's bytes, as Ollama reports it in /api/tags. */
  digest: string;
  /** Sum of config and layer sizes. */
  size: number;
  modifiedAt: Date;
}

/**
 * A blob being written. Bytes go to a temporary file that no reader sees; `commit` fsyncs,
 * checks the sha256 against the expected digest and renames it into place. `abort` keeps the
 * verified prefix when `keepPartial` is set so a later writer for the same digest resumes from
 * `offset`.
 */
export interface BlobWriter {
  readonly digest: string;
  /** Bytes already present (resumed) plus bytes written so far. */
  readonly offset: number;
  write(chunk: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Verifies the digest and makes the blob visible; on mismatch removes the partial file and throws. */
  commit(signal?: AbortSignal): Promise<void>;
  abort(options?: { keepPartial?: boolean }): Promise<void>;
}

/**
 * A blob assembled outside a BlobWriter, such as a copy from peers in chunks written beside `path`
 * and renamed to it once verified. While held, writers of the digest wait and no collection removes it.
 */
export interface BlobHold {
  readonly digest: string;
  /** Where the verified blob goes. */
  readonly path: string;
  /** The blob is at `path` now: it stays pending, as a committed writer's does, until a manifest names it. */
  claim(): void;
  release(): void;
}

/**
 * Invariants:
 * - A blob or manifest is either absent or complete and verified; readers never see a partial one.
 * - `putManifest` refuses a manifest whose config or layers are not all present.
 * - `deleteModel` removes the manifest, then every blob that no remaining manifest references,
 *   before it resolves. `putManifest` over an existing tag and `copyModel` onto one do the same for
 *   the replaced manifest's blobs, unless the store is configured to keep them (OLLAMA_NOPRUNE).
 * - A blob that `putBlobBytes` stored or found, or that a writer committed, is pending until a
 *   manifest naming it is written (one claim per call; unclaimed after an hour): no collection
 *   removes it meanwhile, nor a blob an open writer holds, so a create or pull in progress never
 *   loses a blob to a concurrent delete.
 * Concurrency: any method may run concurrently with any other. Two writers of the same digest are
 * serialized: the second `openBlobWriter` waits for the first to commit or abort.
 */
export interface ModelStore {
  /** Root directory of the store (Ollama's OLLAMA_MODELS). */
  readonly root: string;
  listModels(signal?: AbortSignal): Promise<StoredModel[]>;
  getModel(name: ModelName, signal?: AbortSignal): Promise<StoredModel | undefined>;
  putManifest(name: ModelName, manifest: Manifest, signal?: AbortSignal): Promise<StoredModel>;
  /** Returns false when the model did not exist. */
  deleteModel(name: ModelName, signal?: AbortSignal): Promise<boolean>;
  copyModel(source: ModelName, destination: ModelName, signal?: AbortSignal): Promise<StoredModel>;

  hasBlob(digest: string): Promise<boolean>;
  /** Size in bytes, or undefined when absent. */
  blobSize(digest: string): Promise<number | undefined>;
  /** Absolute path of a present blob, for engines that memory-map model files. */
  blobPath(digest: string): string;
  /** `end` is exclusive, like `subarray`; HTTP Range's inclusive end is `end - 1`. */
  readBlob(digest: string, range?: { start: number; end?: number }): Readable;
  /** Opens (or resumes) a writer for a blob with a known digest. */
  openBlobWriter(digest: string, signal?: AbortSignal): Promise<BlobWriter>;
  /** Waits until no writer or other hold has the digest, then holds it until `release`. */
  holdBlob(digest: string, signal?: AbortSignal): Promise<BlobHold>;
  /** Writes a whole JSON or text blob held in memory and returns its digest (used for config/template layers). */
  putBlobBytes(bytes: Uint8Array, signal?: AbortSignal): Promise<{ digest: string; size: number }>;
}
