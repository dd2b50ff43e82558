// How a request reaches another node, behind one interface: over HTTP to its API (a keep-alive
// pool per node) or over a libp2p stream; p2p.forward picks. Both speak HTTP/1.1 to the target.

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Member } from '../../cluster/types.js';

export interface OutgoingRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  headers: OutgoingHttpHeaders;
  body: Buffer | undefined;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body bytes as they arrive; destroying it abandons the request. */
  body: Readable;
}

export interface Forwarder {
  /**
   * Resolves with the target's status and headers once they arrive; rejects when the request
   * fails before that (refused, reset, timed out), which the caller may retry elsewhere.
   * Aborting `signal` cancels the request on the target too.
   */
  send(target: Member, request: OutgoingRequest, signal: AbortSignal): Promise<UpstreamResponse>;
  /** Closes what is kept open to nodes not in `nodeIds` (they left), failing their requests. */
  retain(nodeIds: ReadonlySet<string>): void;
  close(): Promise<void>;
}
