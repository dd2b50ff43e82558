// An HTTP client for one registry host: pooled undici connections (through HTTPS_PROXY/HTTP_PROXY
// when set, as Ollama honors them), https unless `insecure`, bearer tokens fetched on a 401 and
// reused, and failures turned into the registry error types.

import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { PRODUCT_VERSION } from '../version.js';
import { fetchBearerToken, parseBearerChallenge } from './auth.js';
import { RegistryConnectionError, RegistryStatusError } from './registry-error.js';

export type RegistryMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

export interface RegistryRequest {
  method: RegistryMethod;
  /** A path under the registry (`/v2/...`) or an absolute URL it handed out (Location). */
  url: string | URL;
  headers?: Record<string, string>;
  /** A factory, so the body can be sent again after an auth challenge. */
  body?: () => Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
}

export interface RegistryClientOptions {
  /** Plain HTTP instead of HTTPS, as Ollama's `insecure` means. */
  insecure?: boolean;
  /** Connections per origin; blob downloads open one per parallel part. */
  connections?: number;
  /** A stalled body (no byte for this long) fails the request so a retry can start. */
  bodyTimeoutMs?: number;
}

const ERROR_BODY_LIMIT = 4096;

export class RegistryClient {
  /** The registry as the model name spells it: host[:port]. */
  readonly host: string;
  readonly origin: string;
  readonly #agent: EnvHttpProxyAgent;
  #token: string | undefined;
  /** A token fetch in flight, by challenge, so parallel requests refused together fetch once. */
  readonly #fetching = new Map<string, Promise<string>>();

  constructor(host: string, options: RegistryClientOptions = {}) {
    this.host = host;
    this.origin = `${options.insecure ? 'http' : 'https'}://${host}`;
    this.#agent = new EnvHttpProxyAgent({
      connections: options.connections ?? 16,
      keepAliveTimeout: 10_000,
      headersTimeout: 60_000,
      bodyTimeout: options.bodyTimeoutMs ?? 60_000,
      connect: { timeout: 15_000 },
    });
  }

  url(path: string | URL): URL {
    return new URL(path, this.origin);
  }

  /** Sends a request; answers a bearer challenge once. Any status comes back; only no answer throws. */
  async send(req: RegistryRequest): Promise<Dispatcher.ResponseData> {
    const url = this.url(req.url);
    const response = await this.#dispatch(url, req);
    if (response.statusCode !== 401 || url.origin !== this.origin) return response;
    const challenge = parseBearerChallenge(response.headers['www-authenticate']);
    if (!challenge) return response;
    await response.body.dump();
    const key = JSON.stringify(challenge);
    let fetching = this.#fetching.get(key);
    if (!fetching) {
      fetching = fetchBearerToken(challenge, this.#agent, req.signal).finally(() => this.#fetching.delete(key));
      this.#fetching.set(key, fetching);
    }
    this.#token = await fetching;
    return this.#dispatch(url, req);
  }

  /** Sends and requires one of `statuses`; any other status throws RegistryStatusError. */
  async expect(req: RegistryRequest, statuses: readonly number[]): Promise<Dispatcher.ResponseData> {
    const response = await this.send(req);
    if (statuses.includes(response.statusCode)) return response;
    throw await statusError(response);
  }

  /** Closes pooled connections; requests still running are cut. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  async #dispatch(url: URL, req: RegistryRequest): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { 'user-agent': `ollama-distributed/${PRODUCT_VERSION}`, ...req.headers };
    // A token for this registry never travels to another origin (a blob redirect to a CDN).
    if (this.#token && url.origin === this.origin) headers.authorization = `Bearer ${this.#token}`;
    try {
      return await request(url, {
        method: req.method,
        headers,
        body: req.body?.() ?? null,
        dispatcher: this.#agent,
        signal: req.signal ?? null,
      });
    } catch (error) {
      req.signal?.throwIfAborted();
      const tls = url.protocol === 'https:' && /^(ERR_SSL_|EPROTO)/.test(String((error as { code?: string }).code));
      throw new RegistryConnectionError(error, tls ? 'TLS handshake failed; a registry that speaks plain HTTP needs insecure (--insecure)' : undefined);
    }
  }
}

/** Reads what a refusing registry said (OCI error JSON or text) into a RegistryStatusError. */
export async function statusError(response: Dispatcher.ResponseData): Promise<RegistryStatusError> {
  let text = '';
  try {
    for await (const chunk of response.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= ERROR_BODY_LIMIT) break;
    }
  } catch {
    // The status alone still says what happened.
  } finally {
    response.body.destroy();
  }
  return new RegistryStatusError(response.statusCode, describeBody(response.statusText, text.slice(0, ERROR_BODY_LIMIT)));
}

function describeBody(statusText: string, text: string): string {
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const described = (parsed.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).filter(Boolean);
    if (described.length > 0) return described.join('; ');
  } catch {
    // Not JSON: fall through to the text.
  }
  return [statusText, text.trim().slice(0, 300)].filter(Boolean).join(': ');
}
