// /api/pull and /api/push: models in and out of OCI registries, with Ollama's NDJSON progress.
// A client that disconnects cancels the transfer; what a pull already wrote stays for a resume.

import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../errors.js';
import { parseModelName } from '../models/name.js';
import { progressJson, type OnProgress, type ProgressEvent } from '../registry/progress.js';
import { pullModel } from '../registry/pull.js';
import { pushModel } from '../registry/push.js';
import { clientSignal } from './client-abort.js';
import type { ApiDeps } from './deps.js';
import { errorStatus } from './errors.js';
import type { RouteModule } from './server.js';

interface TransferRequest {
  model?: unknown;
  /** The field's name before Ollama renamed it to `model`. */
  name?: unknown;
  insecure?: unknown;
  stream?: unknown;
}

type Transfer = (options: { deps: ApiDeps; model: string; insecure: boolean; onProgress: OnProgress; signal: AbortSignal }) => Promise<unknown>;

const pull: Transfer = ({ deps, model, insecure, onProgress, signal }) =>
  pullModel({ store: deps.store, name: parseModelName(model), insecure, onProgress, signal });

const push: Transfer = ({ deps, model, insecure, onProgress, signal }) =>
  pushModel({ store: deps.store, name: parseModelName(model), insecure, onProgress, signal });

export const registryRoutes: RouteModule = (app, deps) => {
  app.post('/api/pull', { config: { permission: 'write' } }, (request, reply) => handle(request, reply, deps, pull));
  app.post('/api/push', { config: { permission: 'write' } }, (request, reply) => handle(request, reply, deps, push));
};

async function handle(request: FastifyRequest, reply: FastifyReply, deps: ApiDeps, transfer: Transfer): Promise<unknown> {
  const body = request.body as TransferRequest | undefined;
  if (typeof body !== 'object' || body === null) throw badRequest('missing request body');
  const model = body.model ?? body.name;
  if (typeof model !== 'string' || model.trim() === '') throw badRequest('model is required');
  parseModelName(model);
  const insecure = body.insecure === true;
  const signal = clientSignal(reply);
  if (body.stream === false) {
    await transfer({ deps, model, insecure, onProgress: () => {}, signal });
    return { status: 'success' };
  }
  const events = new ProgressChannel();
  const done = transfer({ deps, model, insecure, onProgress: (event) => events.push(event), signal });
  done.then(
    () => events.close(),
    (error: unknown) => events.fail(error),
  );
  return reply.type('application/x-ndjson').send(Readable.from(ndjsonLines(events, deps)));
}

async function* ndjsonLines(events: ProgressChannel, deps: ApiDeps): AsyncGenerator<string> {
  try {
    for await (const event of events) yield `${JSON.stringify(progressJson(event))}\n`;
  } catch (error) {
    // Headers are out: Ollama reports a failure as the stream's last line.
    const [status, message] = errorStatus(error);
    if (status >= 500 && (error as Error)?.name !== 'AbortError') deps.logger.warn({ err: error }, 'registry transfer failed');
    yield `${JSON.stringify({ error: message })}\n`;
  }
}

/** Progress events from a running transfer to the response stream, in order, ending or failing with it. */
class ProgressChannel implements AsyncIterable<ProgressEvent> {
  #events: ProgressEvent[] = [];
  #end: { error?: unknown } | undefined;
  #wake: (() => void) | undefined;

  push(event: ProgressEvent): void {
    this.#events.push(event);
    this.#notify();
  }

  close(): void {
    this.#end = {};
    this.#notify();
  }

  fail(error: unknown): void {
    this.#end = { error };
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ProgressEvent> {
    for (;;) {
      while (this.#events.length > 0) yield this.#events.shift()!;
      if (this.#end) {
        if ('error' in this.#end) throw this.#end.error;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
