// A scripted stand-in for an Ollama daemon, for the engine's tests: it records every request and
// answers like Ollama (models, blobs, ps, NDJSON runs) unless a test replaces a route's answer.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  /** The parsed JSON body, or for a blob upload the sha256 of the bytes. */
  body: any;
}

export type Route = (request: Recorded, response: ServerResponse, raw: IncomingMessage) => void;

function send(response: ServerResponse, status: number, body?: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(body === undefined ? undefined : JSON.stringify(body));
}

export function ndjsonLines(response: ServerResponse, lines: unknown[]): void {
  response.writeHead(200, { 'content-type': 'application/x-ndjson' });
  response.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
}

const FINAL = { done: true, done_reason: 'stop', load_duration: 5, prompt_eval_count: 3, prompt_eval_duration: 7, eval_count: 2, eval_duration: 11 };

export class FakeDaemon {
  readonly requests: Recorded[] = [];
  /** Blob digests (`sha256:<hex>`) it holds. */
  readonly blobs = new Set<string>();
  /** Model name -> manifest digest (hex), as /api/tags lists them. */
  readonly models = new Map<string, string>();
  ps: unknown[] = [];
  readonly routes = new Map<string, Route>();
  url = '';
  private server: Server | undefined;

  static async start(): Promise<FakeDaemon> {
    const daemon = new FakeDaemon();
    daemon.server = createServer((request, response) => void daemon.handle(request, response));
    await new Promise<void>((resolve) => daemon.server!.listen(0, '127.0.0.1', resolve));
    daemon.url = `http://127.0.0.1:${(daemon.server.address() as AddressInfo).port}`;
    return daemon;
  }

  /** Requests to `path` (method and path, e.g. 'POST /api/create'). */
  calls(route: string): Recorded[] {
    return this.requests.filter((request) => `${request.method} ${request.path}` === route);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private async handle(raw: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = raw.url ?? '';
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const isBlob = path.startsWith('/api/blobs/');
    const body = isBlob ? `sha256:${createHash('sha256').update(bytes).digest('hex')}` : bytes.length > 0 ? JSON.parse(bytes.toString()) : undefined;
    const request = { method: raw.method ?? '', path, body };
    this.requests.push(request);
    const route = this.routes.get(`${request.method} ${path}`) ?? this.routes.get(`${request.method} ${isBlob ? '/api/blobs' : path}`);
    if (route) return route(request, response, raw);
    this.answer(request, response);
  }

  /** The default answer, for a replacing route to fall back on. */
  answer({ method, path, body }: Recorded, response: ServerResponse): void {
    const route = `${method} ${path.startsWith('/api/blobs/') ? '/api/blobs' : path}`;
    const digest = path.slice('/api/blobs/'.length);
    switch (route) {
      case 'GET /api/version':
        return send(response, 200, { version: '0.0.0-fake' });
      case 'GET /api/ps':
        return send(response, 200, { models: this.ps });
      case 'GET /api/tags':
        return send(response, 200, { models: [...this.models].map(([name, digest]) => ({ name, model: name, digest })) });
      case 'POST /api/show':
        if (!this.models.has(body.model)) return send(response, 404, { error: `model '${body.model}' not found` });
        return send(response, 200, { capabilities: ['completion', 'embedding', 'thinking'], model_info: { 'general.architecture': 'llama', 'llama.block_count': 2, 'llama.embedding_length': 64, 'llama.attention.head_count': 4 } });
      case 'HEAD /api/blobs':
        return send(response, this.blobs.has(digest) ? 200 : 404);
      case 'POST /api/blobs':
        if (body !== digest) return send(response, 400, { error: 'digest mismatch' });
        this.blobs.add(digest);
        return send(response, 201);
      case 'POST /api/create':
        this.models.set(body.model, 'f'.repeat(64));
        return send(response, 200, { status: 'success' });
      case 'POST /api/generate':
        if (body.prompt === '') return send(response, 200, { model: body.model, response: '', done: true, done_reason: body.keep_alive === 0 ? 'unload' : 'load' });
        return ndjsonLines(response, [{ response: 'Hel', done: false }, { response: 'lo', done: false }, { response: '', ...FINAL, context: [1, 2, 3] }]);
      case 'POST /api/chat':
        return ndjsonLines(response, [{ message: { role: 'assistant', content: 'Hi' }, done: false }, { message: { role: 'assistant', content: '' }, ...FINAL }]);
      case 'POST /api/embed':
        return send(response, 200, { embeddings: body.input.map(() => [0.6, 0.8]), prompt_eval_count: 4, load_duration: 9 });
      default:
        return send(response, 404, { error: `${route} is not scripted` });
    }
  }
}
