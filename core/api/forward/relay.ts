// Hands a target node's answer to the client unchanged: its status, its end-to-end headers and its
// body bytes as they arrive (NDJSON and SSE stream through), or its complete lines through a splice
// that another node's stream may go on; or reads a short answer whole.

import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply } from 'fastify';
import type { RouteOutcome } from '../../contracts/balancer.js';
import { endToEndHeaders } from './headers.js';
import type { UpstreamResponse } from './forwarder.js';
import type { AnswerSplice } from './splice.js';

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

/** Resolves once the client takes more bytes or is gone. */
function drained(client: ServerResponse): Promise<void> {
  if (client.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const settle = () => {
      client.off('drain', settle);
      client.off('close', settle);
      resolve();
    };
    client.once('drain', settle);
    client.once('close', settle);
  });
}

/**
 * Sends the upstream's complete lines on through `splice` to the client, whose headers went out
 * already: 'ended' when the answer's final (or error) line came, 'broken' when its stream failed or
 * ended before it. A slow client slows the upstream down.
 */
export async function relaySpliced(client: ServerResponse, upstream: UpstreamResponse, splice: AnswerSplice): Promise<'ended' | 'broken'> {
  try {
    for await (const chunk of upstream.body) {
      const lines = splice.push(chunk as Buffer, performance.now());
      if (lines !== '' && !client.write(lines)) await drained(client);
    }
  } catch {
    // The stream broke: whether the answer ended says what to do.
  }
  return splice.ended ? 'ended' : 'broken';
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
