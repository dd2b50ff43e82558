// How the daemon's failures reach the product: its answers with an error status, `{"error"}` lines
// mid-stream and connections nothing answers, each as a ProductError that names the daemon's URL.

import { ProductError, type ErrorCode } from '../../core/errors.js';
import { abortError } from '../../core/abort.js';
import { NdjsonError } from './ndjson.js';

/** Socket errors meaning no daemon listens or it cannot be reached at all. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** The `error` text of an Ollama error body, else the body itself (a proxy's HTML page, say). */
function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed?.error === 'string') return parsed.error;
  } catch {
    // not JSON: shown as sent
  }
  return body.trim().slice(0, 300) || '(empty body)';
}

/**
 * 404 and 400 keep the daemon's own message, which is Ollama's wording for the same request made
 * to this node; other statuses are the daemon's trouble, not the client's, and say so.
 */
export function statusError(url: string, status: number, body: string): ProductError {
  const message = messageOf(body);
  if (status === 404) return new ProductError('OD_ERR_MODEL_NOT_FOUND', message);
  if (status === 400) return new ProductError('OD_ERR_BAD_REQUEST', message);
  const code: ErrorCode = status === 503 ? 'OD_ERR_QUEUE_FULL' : 'OD_ERR_INTERNAL';
  return new ProductError(code, `the Ollama daemon at ${url} answered ${status}: ${message}`);
}

export function lineError(url: string, message: string): ProductError {
  return new ProductError('OD_ERR_INTERNAL', `the Ollama daemon at ${url} failed: ${message}`);
}

/** No daemon answered at all; `reason` is the socket's error. */
export class UnreachableError extends ProductError {
  readonly reason: string;

  constructor(url: string, cause: unknown) {
    const reason = (cause as Error)?.message ?? String(cause);
    super('OD_ERR_INTERNAL', `no Ollama answers at ${url}: ${reason}`, { cause });
    this.reason = reason;
  }
}

/** Any failure while talking to the daemon, as the engine reports it. */
export function transportError(url: string, error: unknown, signal: AbortSignal): Error {
  if (signal.aborted) return abortError(signal);
  if (error instanceof ProductError) return error;
  if (error instanceof NdjsonError) return new ProductError('OD_ERR_INTERNAL', `the Ollama daemon at ${url} sent ${error.message}`, { cause: error });
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNREACHABLE.has(code)) return new UnreachableError(url, error);
  return new ProductError('OD_ERR_INTERNAL', `talking to the Ollama daemon at ${url} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
