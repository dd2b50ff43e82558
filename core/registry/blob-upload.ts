// Uploads one blob from the store to a registry: HEAD to skip what it has, POST to open an upload,
// PATCH parts following each Location, PUT ?digest= to close. A failed part resumes where the
// registry says the upload stands, or from zero in a new session where it cannot resume.

import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import type { ModelStore } from '../contracts/storage.js';
import type { Descriptor } from '../models/manifest.js';
import { statusError, type RegistryClient } from './client.js';
import { isTransient, RegistryProtocolError } from './registry-error.js';
import { blobPath, uploadsPath } from './repository.js';

export interface UploadTuning {
  /** Bytes per PATCH request. */
  partSize: number;
  /** Further attempts for a part after a transient failure. */
  retries: number;
  /** Delay before the first retry; it doubles with each attempt. */
  retryDelayMs: number;
}

export const DEFAULT_UPLOAD_TUNING: UploadTuning = {
  partSize: 256 * 1024 * 1024,
  retries: 4,
  retryDelayMs: 500,
};

export interface BlobUpload {
  client: RegistryClient;
  store: ModelStore;
  repository: string;
  descriptor: Descriptor;
  /** Bytes the registry holds or has been sent. */
  onBytes: (completed: number) => void;
  signal?: AbortSignal;
  tuning: UploadTuning;
}

export async function uploadBlob(upload: BlobUpload): Promise<void> {
  const { client, repository, descriptor, signal } = upload;
  const head = await client.send({ method: 'HEAD', url: blobPath(repository, descriptor.digest), signal });
  await head.body.dump();
  if (head.statusCode === 200) return;
  if (head.statusCode !== 404) throw await statusError(head);

  let location = await openUpload(upload);
  // The registry mounted the blob from content it already had.
  if (!location) return;
  let offset = 0;
  upload.onBytes(0);
  for (let attempt = 0; offset < descriptor.size; ) {
    const end = Math.min(descriptor.size, offset + upload.tuning.partSize);
    try {
      location = await patchPart(upload, location, offset, end);
      offset = end;
      attempt = 0;
    } catch (error) {
      if (signal?.aborted || !isTransient(error) || attempt >= upload.tuning.retries) throw error;
      await sleep(upload.tuning.retryDelayMs * 2 ** attempt, undefined, signal ? { signal } : {});
      attempt++;
      ({ location, offset } = await resumeUpload(upload, location));
      upload.onBytes(offset);
    }
  }

  const close = new URL(location);
  close.searchParams.set('digest', descriptor.digest);
  const closed = await client.expect({ method: 'PUT', url: close, headers: { 'content-length': '0' }, signal }, [201, 204]);
  await closed.body.dump();
}

/** POSTs a new upload session; undefined when the registry answers 201 (mounted, nothing to send). */
async function openUpload(upload: BlobUpload): Promise<URL | undefined> {
  const url = upload.client.url(uploadsPath(upload.repository));
  const opened = await upload.client.expect({ method: 'POST', url, headers: { 'content-length': '0' }, signal: upload.signal }, [201, 202]);
  await opened.body.dump();
  return opened.statusCode === 201 ? undefined : nextLocation(opened.headers.location, url);
}

/**
 * Where to continue after a failed part: the offset the registry reports for the upload (OCI: GET
 * on the upload URL, `Range: 0-<last>`), or a fresh session from zero where the registry refuses
 * to resume one a broken PATCH left behind (docker-registry does).
 */
async function resumeUpload(upload: BlobUpload, location: URL): Promise<{ location: URL; offset: number }> {
  const response = await upload.client.send({ method: 'GET', url: location, signal: upload.signal });
  await response.body.dump();
  if (response.statusCode === 204) {
    // `0-<last byte>`; registries also answer `0-0` for an empty upload, so that counts as nothing held.
    const last = Number(/^(?:bytes=)?0-(\d+)$/.exec(String(response.headers.range ?? ''))?.[1] ?? 0);
    return { location: nextLocation(response.headers.location, location), offset: last > 0 ? last + 1 : 0 };
  }
  const fresh = await openUpload(upload);
  if (!fresh) throw new RegistryProtocolError('the registry mounted a blob it had reported missing');
  return { location: fresh, offset: 0 };
}

async function patchPart(upload: BlobUpload, location: URL, start: number, end: number): Promise<URL> {
  const { store, descriptor, signal } = upload;
  const response = await upload.client.expect(
    {
      method: 'PATCH',
      url: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start),
        'content-range': `${start}-${end - 1}`,
      },
      body: () => Readable.from(counted(store.readBlob(descriptor.digest, { start, end }), (sent) => upload.onBytes(start + sent))),
      signal,
    },
    [202, 204],
  );
  await response.body.dump();
  return nextLocation(response.headers.location, location);
}

function nextLocation(header: string | string[] | undefined, base: URL): URL {
  if (typeof header !== 'string' || header === '') {
    throw new RegistryProtocolError('upload response has no Location');
  }
  return new URL(header, base);
}

async function* counted(source: Readable, onSent: (sent: number) => void): AsyncGenerator<Buffer> {
  let sent = 0;
  for await (const chunk of source) {
    yield chunk as Buffer;
    sent += (chunk as Buffer).byteLength;
    onSent(sent);
  }
}
