// Maps anything a route throws to Ollama's error shape, {"error": "..."}, with a fitting status.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ProductError, statusOf } from '../errors.js';
import { InvalidModelNameError } from '../models/name.js';

const FASTIFY_ERRORS: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'request body too large'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'missing request body'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid JSON in request body'],
};

export function errorStatus(error: unknown): [number, string] {
  const fastifyError = FASTIFY_ERRORS[(error as FastifyError).code];
  if (fastifyError) return fastifyError;
  if (error instanceof ProductError || error instanceof InvalidModelNameError) return [statusOf(error), error.message];
  if (error instanceof SyntaxError) return [400, error.message];
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return [status, (error as Error).message];
  return [500, (error as Error).message || 'internal error'];
}

export function handleError(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const [status, message] = errorStatus(error);
    if (status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    if (reply.raw.headersSent) {
      // A streaming response already began: Ollama reports the failure as a last NDJSON line.
      reply.raw.end(JSON.stringify({ error: message }) + '\n');
      return;
    }
    void reply.code(status).type('application/json; charset=utf-8').send({ error: message });
  };
}
