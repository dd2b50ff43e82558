// The ollama engine: the Engine contract served by an Ollama daemon over its HTTP API. A model goes
// up to the daemon before its first run, runs stream back as NDJSON, and /api/ps feeds loaded().

import { stat } from 'node:fs/promises';
import type {
  Capability,
  ChatRequest,
  EmbedRequest,
  EmbedResult,
  Engine,
  GenerateRequest,
  GpuInfo,
  LoadedModel,
  MemoryEstimate,
  ModelOptions,
  ModelSpec,
  RunEvent,
} from '../../core/contracts/engine.js';
import { ProductError } from '../../core/errors.js';
import { Lifecycle } from '../../core/kernel/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { abortError, linkSignals, untilAborted, withTimeout } from '../../core/abort.js';
import { DaemonClient } from './client.js';
import { UnreachableError } from './daemon-errors.js';
import { DaemonModels } from './ensure-model.js';
import { capabilitiesOf, chatBody, chatEvents, embedBody, embedResult, generateBody, generateEvents, loadBody } from './mapping.js';
import { estimateBytes } from './memory.js';
import { LoadedModels, type PsModel } from './ps-cache.js';

/** How often loaded() catches up with models the daemon loads or expires on its own. */
const PS_INTERVAL_MS = 2_000;
/** Bound on the small calls: /api/version at start, /api/ps, the unloads at stop. */
const CONTROL_TIMEOUT_MS = 5_000;
/** Ollama unloads after answering; how long unload() waits for /api/ps to drop the model. */
const UNLOAD_WAIT_MS = 30_000;
/** How long loaded() is kept following a keep_alive 0 request until the daemon drops its model. */
const EXPIRE_WATCH_MS = 5_000;

type Json = Record<string, unknown>;

export interface OllamaSettings {
  /** engine.ollama.url */
  url: string;
  /** The node's engine.num_parallel: the daemon's own OLLAMA_NUM_PARALLEL is not visible over its API. */
  numParallel: number;
}

interface Running {
  client: DaemonClient;
  models: DaemonModels;
  loaded: LoadedModels;
  stopping: AbortController;
}

const isNotFound = (error: unknown) => error instanceof ProductError && error.code === 'OD_ERR_MODEL_NOT_FOUND';
const nanosSince = (start: bigint) => Number(process.hrtime.bigint() - start);

export class OllamaEngine implements Engine {
  readonly name = 'ollama';
  private readonly lifecycle = new Lifecycle<Running>('ollama engine');

  constructor(
    private readonly settings: OllamaSettings,
    private readonly logger: Logger,
  ) {}

  async start(signal?: AbortSignal): Promise<void> {
    await this.lifecycle.start(() => this.open(signal));
  }

  async stop(): Promise<void> {
    const running = await this.lifecycle.stop();
    if (!running) return;
    running.stopping.abort(new ProductError('OD_ERR_INTERNAL', 'the ollama engine is stopping'));
    running.loaded.close();
    await this.release(running);
    await running.client.close();
  }

  generate(request: GenerateRequest): AsyncGenerator<RunEvent> {
    // Ollama's generate has no way to start the model's answer with given text through its template.
    if (request.continueFrom) throw new ProductError('OD_ERR_UNSUPPORTED', 'the ollama engine cannot go on with a generate answer begun on another node');
    return untilAborted(this.run(request, '/api/generate', generateBody(request), generateEvents), request.signal);
  }

  chat(request: ChatRequest): AsyncGenerator<RunEvent> {
    return untilAborted(this.run(request, '/api/chat', chatBody(request), chatEvents), request.signal);
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    const running = this.lifecycle.started();
    const answer = await this.call(running, request.model, request.signal, (signal) =>
      running.client.json<Json>('POST', '/api/embed', signal, embedBody(request)),
    );
    this.afterRequest(running, request.model.name, request.keepAliveMs);
    return embedResult(answer);
  }

  /** Ollama loads on an empty prompt and reports no load time for it: the time is measured here. */
  async load(model: ModelSpec, keepAliveMs: number, signal: AbortSignal): Promise<number> {
    const running = this.lifecycle.started();
    const { answer, nanos } = await this.call(running, model, signal, async (signal) => {
      const started = process.hrtime.bigint();
      const answer = await running.client.json<Json>('POST', '/api/generate', signal, loadBody(model.name, keepAliveMs));
      return { answer, nanos: nanosSince(started) };
    });
    await running.loaded.refresh();
    const reported = answer['load_duration'];
    return typeof reported === 'number' && reported > 0 ? reported : nanos;
  }

  async unload(name: string, signal: AbortSignal = new AbortController().signal): Promise<void> {
    const running = this.lifecycle.current;
    if (!running) return;
    const linked = linkSignals(signal, running.stopping.signal);
    try {
      const known = await running.client.json('POST', '/api/generate', linked.signal, loadBody(name, 0)).then(
        () => true,
        (error: unknown) => {
          // A model the daemon does not know has nothing of it loaded.
          if (isNotFound(error)) return false;
          throw error;
        },
      );
      if (!known || (await running.loaded.untilGone(name, UNLOAD_WAIT_MS, linked.signal))) return;
      if (linked.signal.aborted) throw abortError(linked.signal);
      throw new ProductError('OD_ERR_INTERNAL', `the Ollama daemon at ${this.settings.url} still lists ${name} as loaded ${UNLOAD_WAIT_MS / 1000} s after unloading it`);
    } finally {
      linked.unlink();
    }
  }

  loaded(): LoadedModel[] {
    return this.lifecycle.current?.loaded.list() ?? [];
  }

  async capabilities(model: ModelSpec): Promise<Capability[]> {
    const running = this.lifecycle.started();
    return capabilitiesOf(await running.models.show(model, running.stopping.signal));
  }

  /** The model's files plus the KV cache its metadata implies; all of it in VRAM once the daemon shows it uses a GPU. */
  async estimateMemory(model: ModelSpec, options: ModelOptions): Promise<MemoryEstimate> {
    const running = this.lifecycle.started();
    const show = await running.models.show(model, running.stopping.signal);
    const extraFiles = [...model.adapterPaths, ...(model.projectorPath ? [model.projectorPath] : [])];
    const extraBytes = (await Promise.all(extraFiles.map(async (path) => (await stat(path)).size))).reduce((a, b) => a + b, 0);
    const total = estimateBytes({
      modelInfo: (show['model_info'] ?? {}) as Json,
      fileBytes: model.modelSize + extraBytes,
      options: { ...model.parameters, ...options },
      parallel: this.settings.numParallel,
    });
    return { total, vram: running.loaded.vramInUse() > 0 ? total : 0 };
  }

  /**
   * Ollama has no endpoint that lists its GPUs; /api/ps's size_vram is the only sign of them. A
   * daemon holding VRAM shows as one device with at least that much memory, none known to be free.
   */
  async gpus(): Promise<GpuInfo[]> {
    const used = this.lifecycle.started().loaded.vramInUse();
    if (used === 0) return [];
    return [{ id: 'ollama', name: `GPUs of the Ollama daemon at ${this.settings.url}`, backend: 'ollama', vramTotal: used, vramFree: 0 }];
  }

  private async open(signal?: AbortSignal): Promise<Running> {
    const { url } = this.settings;
    const client = new DaemonClient(url);
    let version: unknown;
    try {
      ({ version } = await withTimeout(CONTROL_TIMEOUT_MS, (s) => client.json<Json>('GET', '/api/version', s), signal));
    } catch (error) {
      await client.close();
      if (signal?.aborted) throw abortError(signal);
      throw startError(url, error);
    }
    const stopping = new AbortController();
    const models = new DaemonModels(client, stopping.signal, this.logger);
    const loaded = new LoadedModels({
      fetch: () => withTimeout(CONTROL_TIMEOUT_MS, async (s) => (await client.json<{ models?: PsModel[] }>('GET', '/api/ps', s)).models ?? [], stopping.signal),
      specOf: (name) => models.specOf(name),
      logger: this.logger,
    });
    await loaded.refresh();
    loaded.open(PS_INTERVAL_MS);
    this.logger.info({ engine: this.name, url, version }, 'ollama engine started');
    return { client, models, loaded, stopping };
  }


  /** A generate or chat stream: the model ensured first, its chunks mapped to events up to the done event. */
  private async *run(
    request: GenerateRequest | ChatRequest,
    path: string,
    body: Json,
    eventsOf: (chunk: Json) => RunEvent[],
  ): AsyncGenerator<RunEvent> {
    const running = this.lifecycle.started();
    const name = request.model.name;
    const { signal, unlink } = linkSignals(request.signal, running.stopping.signal);
    running.loaded.begin(name);
    try {
      if (signal.aborted) throw abortError(signal);
      await running.models.ensure(request.model, signal);
      let done = false;
      let first = true;
      for await (const chunk of running.client.stream(path, body, signal)) {
        // The model is loaded once the daemon answers: let loaded() show it, with this request, from now on.
        if (first && !running.loaded.includes(name)) await running.loaded.refresh();
        first = false;
        // Anything after the final chunk is read (keeping the connection reusable) but not reported.
        if (done) continue;
        for (const event of eventsOf(chunk)) {
          yield event;
          if (event.type === 'done') {
            done = true;
            break;
          }
        }
      }
      if (!done) throw new ProductError('OD_ERR_INTERNAL', `the Ollama daemon at ${this.settings.url} ended the stream without its final chunk`);
    } catch (error) {
      if (isNotFound(error)) running.models.forget(request.model);
      throw error;
    } finally {
      running.loaded.end(name);
      unlink();
      this.afterRequest(running, name, request.keepAliveMs);
    }
  }

  /** One request/answer call on an ensured model, counted as a running request while it lasts. */
  private async call<T>(running: Running, model: ModelSpec, requestSignal: AbortSignal, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { signal, unlink } = linkSignals(requestSignal, running.stopping.signal);
    running.loaded.begin(model.name);
    try {
      if (signal.aborted) throw abortError(signal);
      await running.models.ensure(model, signal);
      return await send(signal);
    } catch (error) {
      if (isNotFound(error)) running.models.forget(model);
      throw error;
    } finally {
      running.loaded.end(model.name);
      unlink();
    }
  }

  /** Brings loaded() up to date in the background; after keep_alive 0, until the daemon drops the model. */
  private afterRequest(running: Running, name: string, keepAliveMs: number): void {
    if (keepAliveMs === 0) void running.loaded.untilGone(name, EXPIRE_WATCH_MS, running.stopping.signal);
    else void running.loaded.refresh();
  }

  /**
   * Unloads the models this engine put on the daemon: a stopped node's models would otherwise hold
   * the daemon's memory until their keep_alive ends, which for -1 is never.
   */
  private async release({ client, models }: Running): Promise<void> {
    await Promise.all(
      models.names().map((name) =>
        withTimeout(CONTROL_TIMEOUT_MS, (signal) => client.json('POST', '/api/generate', signal, loadBody(name, 0))).catch((error: unknown) => {
          if (!isNotFound(error)) this.logger.warn({ model: name, err: error }, 'unloading a model from the Ollama daemon at stop failed');
        }),
      ),
    );
  }
}

/** Why start failed, naming the setting to fix. */
function startError(url: string, error: unknown): ProductError {
  const where = `${url} (engine.ollama.url)`;
  if (error instanceof UnreachableError) return new ProductError('OD_ERR_PLUGIN_START', `no Ollama answers at ${where}: ${error.reason}`, { cause: error });
  if ((error as Error)?.name === 'AbortError') return new ProductError('OD_ERR_PLUGIN_START', `no Ollama answers at ${where} within ${CONTROL_TIMEOUT_MS} ms`, { cause: error });
  return new ProductError('OD_ERR_PLUGIN_START', `the server at ${where} does not answer GET /api/version as Ollama does: ${(error as Error)?.message}`, { cause: error });
}
