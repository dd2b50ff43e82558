// Streams response objects as NDJSON, one JSON object per line, the way Ollama streams
// /api/generate, /api/chat and /api/create.

import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { errorStatus } from '../errors.js';

const NDJSON = 'application/x-ndjson';

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * Writes lines one at a time: each resolves once it is on the socket (or the connection is gone).
 * The next object is asked for only then: the engine's next step wakes a compute thread, which on
 * a busy machine can take this core before a line still waiting in a corked socket is written.
 */
class LineWriter {
  private written: (() => void) | undefined;
  private readonly onWritten = () => {
    const resolve = this.written;
    this.written = undefined;
    resolve?.();
  };

  constructor(private readonly response: ServerResponse) {
    response.once('close', this.onWritten);
  }

  write(text: string): Promise<void> {
    if (this.response.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.written = resolve;
      this.response.write(text, this.onWritten);
    });
  }
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
  const lines = new LineWriter(response);
  try {
    for (; !next.done && !response.destroyed; next = await objects.next()) await lines.write(line(next.value));
  } catch (error) {
    const [status, message] = errorStatus(error);
    if (status >= 500 && (error as Error)?.name !== 'AbortError') logger.error({ err: error }, 'stream failed');
    await lines.write(line({ error: message }));
  } finally {
    await objects.return?.();
    response.end();
  }
  return reply;
}
