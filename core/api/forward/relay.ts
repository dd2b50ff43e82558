// Hands a target node's answer to the client unchanged: its status, its end-to-end headers and its
// body bytes as they arrive (NDJSON and SSE stream through); or reads a short answer whole.

import { pipeline } from 'node:stream/promises';
import type { FastifyReply } from 'fastify';
import type { RouteOutcome } from '../../contracts/balancer.js';
import { endToEndHeaders } from './headers.js';
import type { UpstreamResponse } from './forwarder.js';

/** Answers of fan-out targets (delete, copy, unload) are a few bytes; more is a misbehaving peer. */
const MAX_WHOLE_ANSWER_BYTES = 1024 * 1024;

export interface WholeAnswer {
  status: number;
  headers: UpstreamResponse['headers'];
  body: Buffer;
}

/**
 * Streams the answer to the client. A client that leaves destroys the upstream body, which closes
 * the request on the target and aborts its run; a target that fails mid-answer cuts the client's.
 */
export async function relayStream(reply: FastifyReply, upstream: UpstreamResponse, clientGone: AbortSignal): Promise<RouteOutcome> {
  reply.hijack();
  reply.raw.writeHead(upstream.status, endToEndHeaders(upstream.headers));
  try {
    await pipeline(upstream.body, reply.raw);
    return upstream.status < 400 ? 'ok' : 'error';
  } catch {
    return clientGone.aborted ? 'cancelled' : 'error';
  }
}

export async function readWhole(upstream: UpstreamResponse): Promise<WholeAnswer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_WHOLE_ANSWER_BYTES) {
      upstream.body.destroy();
      throw new Error(`its answer exceeded ${MAX_WHOLE_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return { status: upstream.status, headers: upstream.headers, body: Buffer.concat(chunks) };
}

export function sendWhole(reply: FastifyReply, answer: WholeAnswer): void {
  reply.hijack();
  const headers = endToEndHeaders(answer.headers);
  headers['content-length'] = answer.body.length;
  reply.raw.writeHead(answer.status, headers);
  reply.raw.end(answer.body);
}
