// A forwarded request proves it comes from a cluster member: the sender signs its origin, time,
// method, path and body with the cluster key, and the receiver checks the proof before the request
// skips its own routing. Without a cluster key (an open cluster) there is nothing to prove with.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const FORWARD_PROOF_HEADER = 'x-ollama-distributed-proof';

/** How far the sender's clock may be from the receiver's, either way. */
export const PROOF_WINDOW_MS = 5 * 60_000;

export interface ForwardedRequest {
  /** The sender's node id, as FORWARDED_HEADER carries it. */
  origin: string;
  method: string;
  /** Path and query as sent. */
  path: string;
  body: Uint8Array | undefined;
}

function mac(key: Uint8Array, request: ForwardedRequest, at: number): Buffer {
  const body = createHash('sha256')
    .update(request.body ?? new Uint8Array())
    .digest('hex');
  return createHmac('sha256', key).update(`od-forward-v1\n${request.origin}\n${at}\n${request.method}\n${request.path}\n${body}`).digest();
}

/** The header value: `<ms since the epoch>.<hex HMAC-SHA256>`. */
export function forwardProof(key: Uint8Array, request: ForwardedRequest, now: number): string {
  return `${now}.${mac(key, request, now).toString('hex')}`;
}

/** Why the proof does not hold, or undefined when it does. */
export function proofProblem(key: Uint8Array, proof: string | string[] | undefined, request: ForwardedRequest, now: number): string | undefined {
  if (typeof proof !== 'string') return 'it carries no proof of a cluster member';
  const match = /^(\d{1,16})\.([0-9a-f]{64})$/.exec(proof);
  if (!match) return 'its proof is malformed';
  const at = Number(match[1]);
  if (Math.abs(now - at) > PROOF_WINDOW_MS) return `its proof is ${Math.round((now - at) / 1000)} s from this node's clock`;
  if (!timingSafeEqual(Buffer.from(match[2]!, 'hex'), mac(key, request, at))) return 'its proof does not hold for the cluster key';
  return undefined;
}
