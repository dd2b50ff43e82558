// Errors on /v1/messages in Anthropic's shape, as Ollama's anthropic.NewError writes them:
// {"type": "error", "error": {"type", "message"}, "request_id"}, the type taken from the status.

import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errorStatus } from '../errors.js';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  529: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return ERROR_TYPES[status] ?? 'api_error';
}

export function anthropicError(status: number, message: string) {
  return { type: 'error', error: { type: anthropicErrorType(status), message }, request_id: `req_${randomBytes(12).toString('hex')}` };
}

export function handleAnthropicError(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const [status, message] = errorStatus(error);
    // A client that went away aborted its own run: nothing to log, nobody to answer.
    if (reply.raw.destroyed) return;
    if (status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    void reply.code(status).type('application/json; charset=utf-8').send(anthropicError(status, message));
  };
}
