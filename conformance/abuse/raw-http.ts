// HTTP requests exactly as an attacker sends them: any method, Host, Origin and Content-Type, a
// fresh connection each, and uploads streamed from chunks with the answer read even if it comes early.

import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { GgufBody } from './hostile-gguf.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface RequestSpec {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** A string or bytes as they are; anything else as JSON. */
  body?: unknown;
  signal?: AbortSignal;
}

/** How much of an answer is kept: a status line's worth of proof, not a stream's worth of memory. */
const KEPT_TEXT = 1 << 20;

function encoded(body: unknown): Uint8Array | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return body;
  return Buffer.from(JSON.stringify(body));
}

function start(url: string, path: string, spec: RequestSpec, length: number | undefined) {
  const target = new URL(path, url);
  const headers: OutgoingHttpHeaders = { ...(length === undefined ? {} : { 'content-length': length }), ...spec.headers };
  return httpRequest(target, { method: spec.method ?? 'POST', headers, agent: false, ...(spec.signal ? { signal: spec.signal } : {}) });
}

function collect(request: ReturnType<typeof httpRequest>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let responded = false;
    // A request error after the answer began (a write cut short by an early answer) is not the
    // answer's: the response itself reports a dropped connection.
    request.on('error', (error) => responded || reject(error));
    request.once('response', (response) => {
      responded = true;
      const parts: Buffer[] = [];
      let kept = 0;
      response.on('data', (chunk: Buffer) => {
        if (kept >= KEPT_TEXT) return;
        parts.push(chunk);
        kept += chunk.length;
      });
      response.once('error', reject);
      response.once('end', () => resolve({ status: response.statusCode!, headers: response.headers, text: Buffer.concat(parts).toString('utf8') }));
    });
  });
}

/** One request on a fresh connection; rejects when the connection drops before a whole answer. */
export function send(url: string, path: string, spec: RequestSpec = {}): Promise<Reply> {
  const body = encoded(spec.body);
  const request = start(url, path, spec, body?.length);
  const reply = collect(request);
  request.end(body);
  return reply;
}

/**
 * POST /api/blobs/<digest> with the file streamed. A server may answer (a 400) before the body is
 * all sent; writing then stops and the answer counts.
 */
export function uploadBlob(url: string, body: GgufBody, signal?: AbortSignal): Promise<Reply> {
  const request = start(url, `/api/blobs/${body.digest}`, { ...(signal ? { signal } : {}), headers: { 'content-type': 'application/octet-stream' } }, body.size);
  let answered = false;
  const reply = collect(request).finally(() => (answered = true));
  void (async () => {
    for (const chunk of body.chunks()) {
      if (answered || request.destroyed) return;
      if (!request.write(chunk)) await new Promise((resolve) => request.once('drain', resolve).once('close', resolve));
    }
    request.end();
  })();
  return reply;
}

/** The JSON of a reply, or undefined when the body is not JSON. */
export function jsonOf(reply: Reply): any {
  try {
    return JSON.parse(reply.text);
  } catch {
    return undefined;
  }
}
