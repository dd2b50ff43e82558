// Streams response objects as NDJSON, one JSON object per line, the way Ollama streams
// /api/generate, /api/chat and /api/create.

import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { errorStatus } from '../errors.js';

const NDJSON = 'application/x-ndjson';

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * Resolves once the line is on the socket (or the connection is gone). The next object is asked
 * for only then: the engine's next step wakes a compute thread, which on a busy machine can take
 * this core before a line still waiting in a corked socket is written.
 */
function writeLine(response: ServerResponse, text: string, closed: Promise<void>): Promise<void> {
  if (response.destroyed) return Promise.resolve();
  return Promise.race([new Promise<void>((resolve) => response.write(text, () => resolve())), closed]);
}

/**
 * Waits for the first object before sending headers, so a failure that comes first (model not
 * loadable, bad request) still gets its own status. A later failure becomes a last
 * `{"error": "..."}` line, as in Ollama. Once a client is gone the source is asked for nothing
 * more, so its work stops at its next step.
 */
export async function sendNdjson(reply: FastifyReply, source: AsyncIterable<unknown>, logger: Logger): Promise<FastifyReply> {
  const objects = source[Symbol.asyncIterator]();
  let next = await objects.next();
  // The lines go straight to the socket; the headers are the ones the reply gathered (CORS and the like).
  reply.type(NDJSON).hijack();
  const response = reply.raw;
  response.statusCode = reply.statusCode;
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) response.setHeader(name, value);
  const closed = new Promise<void>((resolve) => response.once('close', resolve));
  try {
    for (; !next.done && !response.destroyed; next = await objects.next()) await writeLine(response, line(next.value), closed);
  } catch (error) {
    const [status, message] = errorStatus(error);
    if (status >= 500 && (error as Error)?.name !== 'AbortError') logger.error({ err: error }, 'stream failed');
    await writeLine(response, line({ error: message }), closed);
  } finally {
    await objects.return?.();
    response.end();
  }
  return reply;
}
