// HEAD and POST /api/blobs/:digest: whether the store holds a blob, and uploading one. Uploads
// stream straight into the store (no api.max_body_size limit); only a matching digest lands, and a
// GGUF only with a header the reader accepts.

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BlobWriter, ModelStore } from '../../contracts/storage.js';
import { badRequest, ProductError } from '../../errors.js';
import { GgufFormatError, GgufStreamCheck } from '../../models/gguf.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';

type DigestParams = { Params: { digest: string } };

/** Ollama takes `sha256:<hex>` or `sha256-<hex>` (the blob file name's form). */
export function blobDigest(param: string): string {
  const match = /^sha256[:-]([0-9a-fA-F]{64})$/.exec(param);
  if (!match) throw badRequest('invalid digest format');
  return `sha256:${match[1]!.toLowerCase()}`;
}

/** A writer from the first byte: a partial left by an earlier upload is discarded. */
async function freshWriter(store: ModelStore, digest: string, signal: AbortSignal): Promise<BlobWriter> {
  const writer = await store.openBlobWriter(digest, signal);
  if (writer.offset === 0) return writer;
  await writer.abort();
  return store.openBlobWriter(digest, signal);
}

/** The upload's declared length, against which the GGUF check measures what a header claims. */
function declaredSize(request: FastifyRequest): number | undefined {
  const length = Number(request.headers['content-length']);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

async function upload(store: ModelStore, request: FastifyRequest, digest: string, signal: AbortSignal): Promise<void> {
  const writer = await freshWriter(store, digest, signal);
  const header = new GgufStreamCheck(declaredSize(request));
  let refusal: unknown;
  try {
    const hash = createHash('sha256');
    for await (const chunk of request.raw) {
      // The rest of a refused upload is read and dropped: ending the stream early would reset the
      // connection before the client reads its 400.
      if (refusal) continue;
      hash.update(chunk as Buffer);
      await writer.write(chunk as Buffer, signal);
      await header.push(chunk as Buffer).catch((error: unknown) => void (refusal = error));
    }
    if (refusal) throw refusal;
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) throw new ProductError('OD_ERR_DIGEST_MISMATCH', `digest mismatch, expected ${JSON.stringify(digest)}, got ${JSON.stringify(actual)}`);
    await header.end();
    await writer.commit(signal);
  } catch (error) {
    throw error instanceof GgufFormatError ? badRequest(error.message) : error;
  } finally {
    await writer.abort();
  }
}

export function blobRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // Its own plugin scope, so the body reaches the handler as the raw request stream.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));

    scope.head<DigestParams>('/api/blobs/:digest', { config: { permission: 'write' } }, async (request, reply) => {
      const digest = blobDigest(request.params.digest);
      if (!(await deps.store.hasBlob(digest))) {
        throw new ProductError('OD_ERR_BLOB_NOT_FOUND', `blob ${JSON.stringify(request.params.digest)} not found`);
      }
      return reply.code(200).send();
    });

    scope.post<DigestParams>('/api/blobs/:digest', { config: { permission: 'write' } }, async (request, reply) => {
      const digest = blobDigest(request.params.digest);
      if (await deps.store.hasBlob(digest)) return reply.code(200).send();
      await upload(deps.store, request, digest, clientSignal(reply));
      return reply.code(201).send();
    });
  });
}
