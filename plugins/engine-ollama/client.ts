// The HTTP side of the ollama engine: one undici Pool to the daemon, JSON calls, NDJSON streams
// and blob uploads, each cancelled by its signal and each failure reported with the daemon's URL.

import { createReadStream } from 'node:fs';
import { Pool, type Dispatcher } from 'undici';
import { statusError, lineError, transportError } from './daemon-errors.js';
import { ndjsonObjects } from './ndjson.js';

type Method = 'GET' | 'HEAD' | 'POST';

const JSON_HEADERS = { 'content-type': 'application/json' };

export class DaemonClient {
  private readonly pool: Pool;
  /** A path prefix in the configured URL (a daemon behind a reverse proxy), without the last slash. */
  private readonly basePath: string;

  constructor(readonly url: string) {
    const parsed = new URL(url);
    this.basePath = parsed.pathname.replace(/\/+$/, '');
    // Loading a large model or pushing a multi-GB blob takes minutes before the first byte comes back:
    // no undici timeouts, every call is bounded by its signal instead.
    this.pool = new Pool(parsed.origin, { headersTimeout: 0, bodyTimeout: 0 });
  }

  /** A JSON request and its JSON answer. */
  async json<T>(method: 'GET' | 'POST', path: string, signal: AbortSignal, body?: unknown): Promise<T> {
    const response = await this.send(method, path, signal, body === undefined ? {} : { body: JSON.stringify(body), headers: JSON_HEADERS });
    try {
      const answer = (await response.body.json()) as T & { error?: unknown };
      // `stream: false` answers carry a failure that came late as a 200 with an error field.
      if (typeof answer?.error === 'string') throw lineError(this.url, answer.error);
      return answer;
    } catch (error) {
      throw transportError(this.url, error, signal);
    }
  }

  /** The objects of an NDJSON answer; an `{"error"}` line fails the stream. */
  async *stream(path: string, body: unknown, signal: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const response = await this.send('POST', path, signal, { body: JSON.stringify(body), headers: JSON_HEADERS });
    try {
      for await (const object of ndjsonObjects(response.body)) {
        if (typeof object['error'] === 'string') throw lineError(this.url, object['error']);
        yield object;
      }
    } catch (error) {
      throw transportError(this.url, error, signal);
    } finally {
      // A consumer that stops early leaves the rest unread: drop the connection instead.
      response.body.destroy();
    }
  }

  async hasBlob(digest: string, signal: AbortSignal): Promise<boolean> {
    const response = await this.send('HEAD', `/api/blobs/${digest}`, signal, {}, [404]);
    await response.body.dump();
    return response.statusCode !== 404;
  }

  /** Streams a file to the daemon's blob store; the daemon checks it against `digest`. */
  async uploadBlob(digest: string, path: string, size: number, signal: AbortSignal): Promise<void> {
    const file = createReadStream(path);
    try {
      const response = await this.send('POST', `/api/blobs/${digest}`, signal, {
        body: file,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
      await response.body.dump();
    } finally {
      file.destroy();
    }
  }

  /** Closes every connection at once; calls still running fail. */
  async close(): Promise<void> {
    await this.pool.destroy();
  }

  /** Sends; an answer with an error status (other than `allowed`) becomes the daemon's error. */
  private async send(
    method: Method,
    path: string,
    signal: AbortSignal,
    content: { body?: Dispatcher.DispatchOptions['body']; headers?: Record<string, string> },
    allowed: number[] = [],
  ): Promise<Dispatcher.ResponseData> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({ method, path: this.basePath + path, signal, ...content });
    } catch (error) {
      throw transportError(this.url, error, signal);
    }
    if (response.statusCode < 300 || allowed.includes(response.statusCode)) return response;
    const text = await response.body.text().catch(() => '');
    throw statusError(this.url, response.statusCode, text);
  }
}
