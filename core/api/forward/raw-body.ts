// The request body exactly as the client sent it, kept beside the parsed JSON for the routes
// that may forward a request: another node gets these bytes, not a re-serialisation.

import type { FastifyRequest } from 'fastify';

const bodies = new WeakMap<FastifyRequest, Buffer>();

export function keepRawBody(request: FastifyRequest, body: Buffer): void {
  bodies.set(request, body);
}

/** The bytes received, or undefined for a request without a body. */
export function rawBodyOf(request: FastifyRequest): Buffer | undefined {
  return bodies.get(request);
}
