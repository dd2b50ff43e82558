// The embedded llama.cpp engine: loads GGUF models through node-llama-cpp and serves Ollama's
// generate, chat and embed on this node's GPUs or CPU, within the node's keep-alive and slot limits.

import { getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence } from 'node-llama-cpp';
import { abortError, linkSignals } from '../../core/abort.js';
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
import type { NodeConfig } from '../../core/config/schema.js';
import { ProductError } from '../../core/errors.js';
import { Lifecycle } from '../../core/kernel/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { capabilitiesOf, ModelFiles } from './capabilities.js';
import { chatFunctionsOf, chatHistoryOf } from './chat-history.js';
import { runChat } from './chat-run.js';
import { runCompletion } from './completion.js';
import { completionPrompt } from './completion-prompt.js';
import { embedInputs } from './embedding.js';
import { Grammars } from './grammar.js';
import { defaultThreads, estimateMemory, gpuList, gpuOption, modelCapacity } from './hardware.js';
import { Residency, type Lease } from './residency.js';
import { ResidentModel } from './resident-model.js';
import { contextLengthOf, mergeOptions, samplingOf } from './sampling.js';
import { TemplateError } from '../../core/models/go-template.js';
import { withToolCalls } from './tool-calls.js';
import { renderChatPrompt, templateUses } from './template-prompt.js';

export type EngineSection = NodeConfig['engine'];

/** How long stop() lets aborted requests wind down before their models are disposed under them. */
const STOP_GRACE_MS = 2_000;
/** Ollama reports a model that never expires with an expiry this far ahead. */
const NEVER_MS = 292 * 365.25 * 24 * 3600 * 1000;

type TakeSlot = (score?: (sequence: LlamaContextSequence) => number) => Promise<LlamaContextSequence>;

interface Running {
  llama: Llama;
  residency: Residency<ResidentModel>;
  stopping: AbortController;
}

export class LlamaCppEngine implements Engine {
  readonly name = 'llama-cpp';
  private readonly lifecycle = new Lifecycle<Running>('llama-cpp engine');
  private readonly grammars = new Grammars();
  private readonly files = new ModelFiles();

  constructor(
    private readonly settings: EngineSection,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.lifecycle.start(() => this.open());
  }

  async stop(): Promise<void> {
    const running = await this.lifecycle.stop();
    if (!running) return;
    running.stopping.abort(new ProductError('OD_ERR_INTERNAL', 'the engine is stopping'));
    await running.residency.close(STOP_GRACE_MS);
    this.grammars.clear();
    this.files.clear();
    await running.llama.dispose();
  }

  async *generate(request: GenerateRequest): AsyncGenerator<RunEvent> {
    const { llama } = this.lifecycle.started();
    if (request.images && request.images.length > 0) throw unsupported(request.model, 'images');
    if (!request.prompt && !request.suffix && !request.context?.length) {
      yield loadOnly(await this.load(request.model, request.keepAliveMs, request.signal));
      return;
    }
    if (request.suffix && !(await this.capabilities(request.model)).includes('insert')) throw unsupported(request.model, 'insert');
    const options = mergeOptions(request.model.parameters, request.options);
    const grammar = request.format ? await this.grammars.for(llama, request.format) : undefined;
    const template = request.template ?? request.model.template;
    const system = request.system ?? request.model.system;
    yield* this.withModel(request.model, options, request, async function* (resident, takeSlot, signal, loadDuration) {
      const prompt = rendered(() =>
        completionPrompt(resident.model, () => resident.chatWrapper, {
          prompt: request.prompt,
          raw: request.raw,
          ...(request.suffix ? { suffix: request.suffix } : {}),
          ...(system ? { system } : {}),
          ...(template ? { template } : {}),
          ...(request.context ? { context: request.context } : {}),
        }),
      );
      // Prefer the slot whose cache already holds the longest part of this prompt.
      const sequence = await takeSlot((s) => s.compareContextTokens(prompt.tokens).firstDifferentIndex);
      yield* runCompletion({
        sequence,
        model: resident.model,
        prompt: prompt.tokens,
        sampling: samplingOf(options, resident.contextLength),
        options,
        stopStrings: [...(options.stop ?? []), ...prompt.stopStrings],
        stopTokens: prompt.stopTokens,
        ...(grammar ? { grammar } : {}),
        signal,
        loadDuration,
        returnContext: true,
      });
    });
  }

  async *chat(request: ChatRequest): AsyncGenerator<RunEvent> {
    const { llama } = this.lifecycle.started();
    const spec = request.model;
    if (request.messages.some((m) => m.images && m.images.length > 0)) throw unsupported(spec, 'images');
    if (request.messages.length === 0) {
      yield loadOnly(await this.load(spec, request.keepAliveMs, request.signal));
      return;
    }
    const tools = request.tools ?? [];
    if (tools.length > 0 && !(await this.capabilities(spec)).includes('tools')) throw unsupported(spec, 'tools');
    const options = mergeOptions(spec.parameters, request.options);
    const grammar = request.format ? await this.grammars.for(llama, request.format) : undefined;
    yield* this.withModel(spec, options, request, async function* (resident, takeSlot, signal, loadDuration) {
      const common = {
        sequence: await takeSlot(),
        sampling: samplingOf(options, resident.contextLength),
        stopStrings: options.stop ?? [],
        signal,
        loadDuration,
        ...(grammar ? { grammar } : {}),
      };
      if (!spec.template) {
        yield* runChat({
          ...common,
          chatWrapper: resident.chatWrapper,
          history: chatHistoryOf(spec.system, spec.messages, request.messages),
          ...(tools.length > 0 ? { functions: chatFunctionsOf(tools) } : {}),
          maxTokens: options.num_predict !== undefined && options.num_predict > 0 ? options.num_predict : resident.contextLength,
        });
        return;
      }
      const template = spec.template;
      const text = rendered(() =>
        renderChatPrompt(template, { messages: [...spec.messages, ...request.messages], tools, ...(spec.system ? { system: spec.system } : {}) }),
      );
      const completion = runCompletion({
        ...common,
        model: resident.model,
        prompt: completionPrompt(resident.model, () => resident.chatWrapper, { prompt: text, raw: true }).tokens,
        options,
        stopTokens: new Set(),
        returnContext: false,
      });
      const toolNames = new Set(tools.map((t) => t.function.name));
      yield* toolNames.size > 0 && templateUses(template, 'Tools') ? withToolCalls(completion, toolNames) : completion;
    });
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    this.lifecycle.started();
    if (!(await this.capabilities(request.model)).includes('embedding')) throw unsupported(request.model, 'embedding');
    const options = mergeOptions(request.model.parameters, request.options);
    const { signal, unlink } = this.requestSignal(request.signal);
    try {
      const lease = await this.lease(request.model, options, request.keepAliveMs, signal);
      try {
        const result = await embedInputs(lease.resident, request.input, request.truncate, signal);
        return { ...result, loadDuration: lease.loadDuration };
      } finally {
        await lease.release();
      }
    } finally {
      unlink();
    }
  }

  async load(model: ModelSpec, keepAliveMs: number, signal: AbortSignal): Promise<number> {
    this.lifecycle.started();
    const lease = await this.lease(model, model.parameters, keepAliveMs, signal);
    await lease.release();
    return lease.loadDuration;
  }

  async unload(name: string, signal?: AbortSignal): Promise<void> {
    await this.lifecycle.current?.residency.unload(name, signal);
  }

  loaded(): LoadedModel[] {
    if (!this.lifecycle.current) return [];
    return [...this.lifecycle.current.residency.residents()].map(({ resident, activeRequests, expiresAt }) => {
      const { size, vram } = resident.memory();
      return {
        name: resident.spec.name,
        digest: resident.spec.digest,
        size,
        sizeVram: vram,
        contextLength: resident.contextLength,
        expiresAt: new Date(Number.isFinite(expiresAt) ? expiresAt : Date.now() + NEVER_MS),
        details: resident.spec.details,
        activeRequests,
      };
    });
  }

  async capabilities(model: ModelSpec): Promise<Capability[]> {
    const info = await this.files.info(model.modelPath);
    return capabilitiesOf(model.template, info.metadata);
  }

  async estimateMemory(model: ModelSpec, options: ModelOptions): Promise<MemoryEstimate> {
    const { llama } = this.lifecycle.started();
    const merged = mergeOptions(model.parameters, options);
    return estimateMemory(llama, await this.files.info(model.modelPath), {
      contextLength: contextLengthOf(merged, this.settings.llama_cpp.num_ctx),
      parallel: this.settings.num_parallel,
      ...(merged.num_gpu !== undefined && merged.num_gpu >= 0 ? { gpuLayers: merged.num_gpu } : {}),
    });
  }

  async gpus(): Promise<GpuInfo[]> {
    return gpuList(this.lifecycle.started().llama);
  }

  /**
   * Runs `body` with the model loaded; `body` takes a slot when it is ready to run (optionally
   * preferring slots by score). Model and slot are given back however the stream ends.
   */
  private async *withModel(
    spec: ModelSpec,
    options: ModelOptions,
    request: { keepAliveMs: number; signal: AbortSignal },
    body: (resident: ResidentModel, takeSlot: TakeSlot, signal: AbortSignal, loadDuration: number) => AsyncGenerator<RunEvent>,
  ): AsyncGenerator<RunEvent> {
    const { signal, unlink } = this.requestSignal(request.signal);
    try {
      const lease = await this.lease(spec, options, request.keepAliveMs, signal);
      let slot: LlamaContextSequence | undefined;
      try {
        const takeSlot: TakeSlot = async (score) => (slot = await lease.resident.slots.take(signal, score));
        for await (const event of body(lease.resident, takeSlot, signal, lease.loadDuration)) {
          // The model may finish a step after the caller aborted; nothing is delivered past an abort.
          if (signal.aborted) throw abortError(signal);
          yield event;
        }
      } finally {
        if (slot) lease.resident.slots.give(slot);
        await lease.release();
      }
    } finally {
      unlink();
    }
  }

  private async open(): Promise<Running> {
    const llama = await getLlama({
      gpu: gpuOption(this.settings.llama_cpp.gpu),
      // Nodes run offline: use the shipped binaries, never try to compile llama.cpp at start.
      build: 'never',
      progressLogs: false,
      logLevel: this.logger.isLevelEnabled('debug') ? LlamaLogLevel.debug : LlamaLogLevel.warn,
      logger: (level, message) => this.logLlama(level, message),
    });
    const gpuCount = llama.gpu === false ? 0 : (await llama.getGpuDeviceNames()).length;
    const capacity = modelCapacity(this.settings.max_loaded_models, gpuCount);
    this.logger.info({ engine: this.name, gpu: llama.gpu, gpuCount, maxLoadedModels: capacity }, 'llama.cpp engine started');
    const residency = new Residency<ResidentModel>({
      capacity: () => capacity,
      onUnloadError: (name, error) => this.logger.error({ model: name, err: error }, 'unloading a model failed'),
    });
    return { llama, residency, stopping: new AbortController() };
  }

  /** The request's signal, also aborted when the engine stops. */
  private requestSignal(signal: AbortSignal) {
    return linkSignals(signal, this.lifecycle.started().stopping.signal);
  }

  private lease(spec: ModelSpec, options: ModelOptions, keepAliveMs: number, signal: AbortSignal): Promise<Lease<ResidentModel>> {
    const { llama, residency } = this.lifecycle.started();
    const contextLength = contextLengthOf(options, this.settings.llama_cpp.num_ctx);
    const settings = {
      contextLength,
      parallel: this.settings.num_parallel,
      threads: options.num_thread && options.num_thread > 0 ? options.num_thread : defaultThreads(this.settings.llama_cpp.threads),
      ...(options.num_batch && options.num_batch > 0 ? { batchSize: options.num_batch } : {}),
      ...(options.num_gpu !== undefined && options.num_gpu >= 0 ? { gpuLayers: options.num_gpu } : {}),
    };
    return residency.acquire({
      name: spec.name,
      fingerprint: JSON.stringify([spec.digest, spec.modelPath, spec.adapterPaths, contextLength, settings.gpuLayers ?? null]),
      keepAliveMs,
      signal,
      load: async () => {
        const started = performance.now();
        const resident = await ResidentModel.load(llama, spec, settings);
        this.logger.info({ model: spec.name, contextLength: resident.contextLength, ms: Math.round(performance.now() - started) }, 'model loaded');
        return resident;
      },
    });
  }

  private logLlama(level: LlamaLogLevel, message: string): void {
    const text = message.trimEnd();
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) this.logger.error({ llama: true }, text);
    else if (level === LlamaLogLevel.warn) this.logger.warn({ llama: true }, text);
    else this.logger.debug({ llama: true }, text);
  }
}

function unsupported(model: ModelSpec, what: 'images' | 'insert' | 'tools' | 'embedding'): ProductError {
  return new ProductError('OD_ERR_UNSUPPORTED', `${model.name} does not support ${what === 'embedding' ? 'embeddings' : what}`);
}

function loadOnly(loadDuration: number): RunEvent {
  return { type: 'done', doneReason: 'load', loadDuration, promptEvalCount: 0, promptEvalDuration: 0, evalCount: 0, evalDuration: 0 };
}

/** Template problems are the model's, not the engine's: report them as a bad request. */
function rendered<T>(render: () => T): T {
  try {
    return render();
  } catch (error) {
    if (error instanceof TemplateError) throw new ProductError('OD_ERR_BAD_REQUEST', `template: ${error.message}`, { cause: error });
    throw error;
  }
}
