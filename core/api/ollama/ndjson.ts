// Streams response objects as NDJSON, one JSON object per line, the way Ollama streams
// /api/generate, /api/chat and /api/create.

import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { errorStatus } from '../errors.js';

const NDJSON = 'application/x-ndjson';

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * Waits for the first object before sending headers, so a failure that comes first (model not
 * loadable, bad request) still gets its own status. A later failure becomes a last
 * `{"error": "..."}` line, as in Ollama.
 */
export async function sendNdjson(reply: FastifyReply, source: AsyncIterable<unknown>, logger: Logger): Promise<FastifyReply> {
  const objects = source[Symbol.asyncIterator]();
  const first = await objects.next();
  async function* lines(): AsyncGenerator<string> {
    try {
      if (first.done) return;
      yield line(first.value);
      for (let next = await objects.next(); !next.done; next = await objects.next()) yield line(next.value);
    } catch (error) {
      const [status, message] = errorStatus(error);
      if (status >= 500 && (error as Error)?.name !== 'AbortError') logger.error({ err: error }, 'stream failed');
      yield line({ error: message });
    } finally {
      await objects.return?.();
    }
  }
  return reply.type(NDJSON).send(Readable.from(lines()));
}
