// The headers a forward carries and marks: what passes between client, node and serving node
// unchanged (all but hop-by-hop ones), the mark of a forwarded request and the serving node's name.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Set on a request one node sends to another, naming the sender's node id; such a request is never forwarded again. */
export const FORWARDED_HEADER = 'x-ollama-distributed-forwarded';
/** Set by the node that served an inference request, to its node name. */
export const SERVED_BY_HEADER = 'x-served-by';
/** Set by a node refusing a forwarded request it may not take (drained): the sender tries another node. */
export const REFUSED_HEADER = 'x-ollama-distributed-refused';

/** Set on the answer to a request that waited for a slot: its place in the queue when it joined (1 is first). */
export const QUEUE_POSITION_HEADER = 'x-queue-position';
/** A client's name for its request, under which GET /api/v1/queue lists it while it waits. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** RFC 9110 §7.6.1: meaningful for one connection only, never passed on by a proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** `headers` without hop-by-hop ones, those the Connection header names included. */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The request headers sent on: end-to-end ones, marked as forwarded by `origin` (a node id). The
 * body was read whole before a forward, so a client's `Expect: 100-continue` was answered here.
 */
export function forwardedRequestHeaders(headers: IncomingHttpHeaders, origin: string): OutgoingHttpHeaders {
  const out = endToEndHeaders(headers);
  delete out.expect;
  out[FORWARDED_HEADER] = origin;
  return out;
}
