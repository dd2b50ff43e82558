// The client side of Ollama's API for the CLI: JSON requests to OLLAMA_HOST, NDJSON streams, and
// the server's {"error": ...} turned into a ClientError carrying its message and status.

import { ollamaHost } from './host.js';
import { trustingCa } from './trust.js';

export class ClientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Sent as-is instead of JSON, e.g. a blob upload. */
  stream?: ReadableStream<Uint8Array>;
  signal?: AbortSignal;
}

function headers(json: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (json) out['content-type'] = 'application/json';
  // Nodes with security.auth.enabled take an API key or JWT as a bearer token.
  if (process.env.OLLAMA_API_KEY) out.authorization = `Bearer ${process.env.OLLAMA_API_KEY}`;
  return out;
}

async function errorMessage(response: Response): Promise<string> {
  const text = (await response.text()).trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON: the body itself says what went wrong.
  }
  return text || `${response.status} ${response.statusText}`;
}

/** Sends a request and returns the response when its status is 2xx; otherwise throws the server's message. */
export async function call(path: string, options: RequestOptions = {}): Promise<Response> {
  const base = ollamaHost();
  const init: RequestInit & { duplex?: 'half' } = {
    method: options.method ?? (options.body === undefined && !options.stream ? 'GET' : 'POST'),
    headers: headers(options.body !== undefined),
  };
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  if (options.stream) {
    init.body = options.stream;
    init.duplex = 'half';
  }
  if (options.signal) init.signal = options.signal;
  let response: Response;
  try {
    response = await fetch(base + path, { ...init, ...trustingCa() } as RequestInit);
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    const cause = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
    throw new ClientError(`could not connect to ollama-distributed at ${base}, is it running? (${cause})`);
  }
  if (!response.ok) throw new ClientError(await errorMessage(response), response.status);
  return response;
}

export async function callJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return (await call(path, options)).json() as Promise<T>;
}

/** Lines of an NDJSON response as objects; a line carrying `error` ends the stream with that error. */
export async function* ndjson<T>(response: Response): AsyncGenerator<T> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  const parse = (line: string): T | undefined => {
    if (line.trim() === '') return undefined;
    const value = JSON.parse(line) as T & { error?: unknown };
    if (typeof value.error === 'string') throw new ClientError(value.error);
    return value;
  };
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const value = parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      if (value !== undefined) yield value;
    }
  }
  const last = parse(buffered + decoder.decode());
  if (last !== undefined) yield last;
}
