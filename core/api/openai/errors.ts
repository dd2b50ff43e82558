// Errors on /v1 in OpenAI's shape, as Ollama's openai.NewError writes them:
// {"error": {"message", "type", "param": null, "code": null}} with the type taken from the status.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errorStatus } from '../errors.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: null; code: null };
}

export function openaiError(status: number, message: string): OpenAIErrorBody {
  const type = status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error';
  return { error: { message, type, param: null, code: null } };
}

export function handleOpenAIError(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const [status, message] = errorStatus(error);
    // A client that went away aborted its own run: nothing to log, nobody to answer.
    if (reply.raw.destroyed) return;
    if (status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    void reply.code(status).type('application/json; charset=utf-8').send(openaiError(status, message));
  };
}
