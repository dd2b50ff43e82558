// When a forward is tried on another holder, and what the client hears when every holder failed.
// Pure: the request path feeds in what each attempt came to.

import { ProductError } from '../../errors.js';
import { REFUSED_HEADER } from './headers.js';

export type Attempt =
  /** The target answered with this status and headers; its body follows. */
  | { answered: true; status: number; headers: Record<string, unknown> }
  /** The request failed before any answer came (refused, reset, the target left). */
  | { answered: false; error: unknown };

export type NextStep = 'relay' | 'retry' | 'stop';

/**
 * Nothing of an answer has reached the client before a retry, so one is safe whenever the target
 * never answered, or answered only that it takes nothing new (drained). A client that left gets no retry.
 */
export function nextStep(attempt: Attempt, clientGone: boolean): NextStep {
  if (clientGone) return 'stop';
  if (!attempt.answered) return 'retry';
  return refused(attempt.status, attempt.headers) ? 'retry' : 'relay';
}

export function refused(status: number, headers: Record<string, unknown>): boolean {
  return status === 503 && headers[REFUSED_HEADER] !== undefined;
}

const SYSTEM_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed before an answer',
};

/** A short reason for the error message: the first known code down the causes, else the error's own words. */
export function failureReason(error: unknown): string {
  for (let e = error as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    const known = e.code ? SYSTEM_ERRORS[e.code] : undefined;
    if (known) return known;
  }
  return (error as Error)?.message || String(error);
}

export interface FailedTarget {
  /** The node's name. */
  node: string;
  reason: string;
}

/** 502: the node a request names failed before answering. */
export function nodeUnreachable(failure: FailedTarget): ProductError {
  return new ProductError('OD_ERR_FORWARD', `node '${failure.node}' could not be reached: ${failure.reason}`);
}

/** 503: the model is on nodes that take nothing now (down, drained), and on no other. */
export function holdersUnavailable(model: string, holders: readonly FailedTarget[]): ProductError {
  const listed = holders.map((h) => `${h.node} (${h.reason})`).join(', ');
  return new ProductError('OD_ERR_NO_NODE', `model '${model}' is held only by nodes that cannot take requests now: ${listed}`);
}

/** 502: every holder that was tried failed before answering. */
export function forwardFailure(model: string, failures: readonly FailedTarget[]): ProductError {
  const tried = failures.map((f) => `${f.node} (${f.reason})`).join(', ');
  return new ProductError('OD_ERR_FORWARD', `no node holding model '${model}' could serve the request: ${tried}`);
}
