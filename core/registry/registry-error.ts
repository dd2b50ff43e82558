// What goes wrong between a node and a registry, from the raw failure (unreachable, an HTTP status)
// to the ProductError a client sees, which names the model and the registry.

import { ProductError } from '../errors.js';

/** A registry failure as a client sees it: code OD_ERR_REGISTRY with a status that fits the cause. */
export class RegistryError extends ProductError {
  constructor(
    message: string,
    private readonly httpStatus: number,
    options?: { cause?: unknown },
  ) {
    super('OD_ERR_REGISTRY', message, options);
  }

  override get status(): number {
    return this.httpStatus;
  }
}

/** The registry answered, but not with what the protocol step expects. */
export class RegistryStatusError extends Error {
  constructor(
    readonly statusCode: number,
    readonly detail: string,
  ) {
    super(detail ? `${statusCode} ${detail}` : String(statusCode));
    this.name = 'RegistryStatusError';
  }

  /** Worth another try: the registry or something before it is overloaded or failing for now. */
  get transient(): boolean {
    return this.statusCode === 408 || this.statusCode === 429 || this.statusCode >= 500;
  }
}

/** No answer: refused, reset, timed out, TLS failure, or the connection broke mid-body. */
export class RegistryConnectionError extends Error {
  constructor(cause: unknown, summary?: string) {
    const code = (cause as { code?: string } | undefined)?.code;
    super(summary ? `${summary}${code ? ` (${code})` : ''}` : describeCause(cause), { cause });
    this.name = 'RegistryConnectionError';
  }
}

/** The registry's bytes break the protocol: bad JSON, wrong ranges, more bytes than announced. */
export class RegistryProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryProtocolError';
  }
}

function describeCause(cause: unknown): string {
  const error = cause as { code?: string; message?: string; cause?: unknown } | undefined;
  const inner = error?.cause as { code?: string; message?: string } | undefined;
  const message = inner?.message || error?.message || String(cause);
  const code = inner?.code ?? error?.code;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** True for failures another attempt may get past; false for refusals and for our own abort. */
export function isTransient(error: unknown): boolean {
  if (error instanceof RegistryConnectionError) return true;
  if (error instanceof RegistryStatusError) return error.transient;
  return false;
}

/**
 * Turns a raw failure into the error a client sees. `action` is Ollama's prefix for the step
 * ("pull model manifest"), kept so scripts matching Ollama's messages still match; `subject` names
 * what was asked for, with the model. A 404 becomes our 404 only where `notFound` says what is missing.
 */
export function registryFailure(error: unknown, action: string, subject: string, registry: string, notFound?: string): unknown {
  if (error instanceof ProductError) return error;
  if (error instanceof RegistryConnectionError) {
    return new RegistryError(`${action}: registry ${registry} is unreachable for ${subject}: ${error.message}`, 502, { cause: error });
  }
  if (error instanceof RegistryStatusError) {
    if (error.statusCode === 404 && notFound) {
      return new RegistryError(`${action}: file does not exist: registry ${registry} has no ${notFound}`, 404, { cause: error });
    }
    const refusal = error.statusCode === 401 || error.statusCode === 403 ? 'refused access to' : 'failed on';
    return new RegistryError(`${action}: registry ${registry} ${refusal} ${subject}: ${error.message}`, 502, { cause: error });
  }
  if (error instanceof RegistryProtocolError) {
    return new RegistryError(`${action}: registry ${registry} sent an invalid answer for ${subject}: ${error.message}`, 502, { cause: error });
  }
  return error;
}
