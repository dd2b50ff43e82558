// The embedded llama.cpp engine: loads GGUF models through node-llama-cpp and serves Ollama's
// generate, chat and embed on this node's GPUs or CPU, within the node's keep-alive and slot limits.

import { getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { abortError, linkSignals } from '../../core/abort.js';
import type {
  Capability,
  ChatMessage,
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
  ThinkValue,
} from '../../core/contracts/engine.js';
import type { NodeConfig } from '../../core/config/schema.js';
import { ProductError } from '../../core/errors.js';
import { Lifecycle } from '../../core/kernel/lifecycle.js';
import type { Logger } from '../../core/log.js';
import { insufficientMemory, memoryShortfall, requireFit, type FreeMemory } from '../../core/models/memory-fit.js';
import { canEmbed, capabilitiesOf, ModelFiles, thinkingTags } from './capabilities.js';
import { chatFunctionsOf, chatHistoryOf } from './chat-history.js';
import { runChat } from './chat-run.js';
import { runCompletion } from './completion.js';
import { chatPrompt, completionPrompt } from './completion-prompt.js';
import { embedInputs } from './embedding.js';
import { fitMessages } from './fit-messages.js';
import { Grammars } from './grammar.js';
import { defaultThreads, estimateMemory, gpuList, gpuOption, modelCapacity } from './hardware.js';
import { loadShape, requestedContext, type LoadShape } from './load-shape.js';
import { trialLoad } from './model-trial.js';
import { Residency, type Lease } from './residency.js';
import { ResidentModel } from './resident-model.js';
import { mergeOptions, samplingOf } from './sampling.js';
import { TemplateError } from '../../core/models/go-template.js';
import { promptOpensThinking, splitThinking, ThinkingParser, thinkingEnabled, type ThinkingTags } from '../../core/models/thinking.js';
import { toolCallTag, ToolCallParser, withToolCalls } from './tool-calls.js';
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
  /** Each run's own controller, aborted when the engine stops: no listener on `stopping` per request. */
  runs: Set<AbortController>;
  /** Threads a load computes with unless num_thread says otherwise. */
  threads: number;
}

export class LlamaCppEngine implements Engine {
  readonly name = 'llama-cpp';
  private readonly lifecycle = new Lifecycle<Running>('llama-cpp engine');
  private readonly grammars = new Grammars();
  private readonly files = new ModelFiles();
  private readonly trialPassed = new Set<string>();
  /** Memory of loads under way: not yet visible as used, already spoken for. */
  private readonly reserved: MemoryEstimate[] = [];

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
    const stopping = new ProductError('OD_ERR_INTERNAL', 'the engine is stopping');
    running.stopping.abort(stopping);
    for (const run of running.runs) run.abort(stopping);
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
    const tags = await this.thinkingTagsFor(request.model, request.think);
    yield* this.withModel(request.model, options, request, async function* (resident, takeSlot, signal, loadDuration) {
      const prompt = await rendered(() =>
        completionPrompt(
          resident.model,
          () => resident.chatWrapper,
          {
            prompt: request.prompt,
            raw: request.raw,
            ...(request.suffix ? { suffix: request.suffix } : {}),
            ...(system ? { system } : {}),
            ...(template ? { template } : {}),
            ...(request.context ? { context: request.context } : {}),
            ...(request.think !== undefined ? { think: request.think } : {}),
            ...(request.continueFrom ? { continueFrom: request.continueFrom } : {}),
          },
          { contextLength: resident.contextLength, signal },
        ),
      );
      // Prefer the slot whose cache already holds the longest part of this prompt.
      const sequence = await takeSlot((s) => s.compareContextTokens(prompt.tokens).firstDifferentIndex);
      const completion = runCompletion({
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
        ...(request.logprobs ? { logprobs: request.logprobs } : {}),
      });
      yield* tags ? splitThinking(completion, thinkingParser(resident.model, prompt.tokens, tags)) : completion;
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
    const tags = await this.thinkingTagsFor(spec, request.think);
    const thoughts = (events: AsyncGenerator<RunEvent>, prompt: Token[], model: LlamaModel) =>
      tags ? splitThinking(events, thinkingParser(model, prompt, tags)) : events;
    yield* this.withModel(spec, options, request, async function* (resident, takeSlot, signal, loadDuration) {
      const { model, contextLength } = resident;
      const messages = await fitMessages(model, withSystem(spec.system, [...spec.messages, ...request.messages]), contextLength, signal);
      const common = {
        sampling: samplingOf(options, contextLength),
        signal,
        loadDuration,
        ...(grammar ? { grammar } : {}),
      };
      if (!spec.template && tools.length > 0) {
        // Function calling in the model's own chat format is LlamaChat's.
        yield* thoughts(
          runChat({
            ...common,
            sequence: await takeSlot(),
            stopStrings: options.stop ?? [],
            chatWrapper: resident.chatWrapper,
            history: chatHistoryOf(undefined, [], messages),
            functions: chatFunctionsOf(tools),
            maxTokens: options.num_predict !== undefined && options.num_predict > 0 ? options.num_predict : contextLength,
          }),
          [],
          model,
        );
        return;
      }
      const bounds = { contextLength, signal };
      const template = spec.template;
      const think = request.think !== undefined ? { think: request.think } : {};
      const prompt = template
        ? await rendered(() => completionPrompt(model, () => resident.chatWrapper, { prompt: renderChatPrompt(template, { messages, tools, ...think }), raw: true }, bounds))
        : await chatPrompt(model, resident.chatWrapper, chatHistoryOf(undefined, [], messages), bounds);
      const completion = runCompletion({
        ...common,
        sequence: await takeSlot((s) => s.compareContextTokens(prompt.tokens).firstDifferentIndex),
        model,
        prompt: prompt.tokens,
        options,
        stopStrings: [...(options.stop ?? []), ...prompt.stopStrings],
        stopTokens: prompt.stopTokens,
        returnContext: false,
        ...(request.logprobs ? { logprobs: request.logprobs } : {}),
      });
      const split = thoughts(completion, prompt.tokens, model);
      yield* template && tools.length > 0 && templateUses(template, 'Tools')
        ? withToolCalls(split, new ToolCallParser(toolCallTag(template), tools.map((tool) => tool.function.name)))
        : split;
    });
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    this.lifecycle.started();
    if (!canEmbed((await this.files.info(request.model.modelPath)).metadata)) throw unsupported(request.model, 'embedding');
    const options = mergeOptions(request.model.parameters, request.options);
    const { signal, unlink } = this.requestSignal(request.signal);
    try {
      const lease = await this.lease(request.model, options, request.keepAliveMs, signal);
      try {
        const free = await this.freeMemory();
        const need = await lease.resident.embeddingNeed(free.ram + free.vram);
        if (need) requireFit(need, free);
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

  /** The tags to split the output at when the request thinks and the model can; none otherwise. */
  private async thinkingTagsFor(model: ModelSpec, think: ThinkValue | undefined): Promise<ThinkingTags | undefined> {
    if (!thinkingEnabled(think)) return undefined;
    return thinkingTags(model.template, (await this.files.info(model.modelPath)).metadata);
  }

  /** Blob paths name their content, so a file that passed once passes again. */
  async checkModelFile(path: string, signal?: AbortSignal): Promise<void> {
    if (this.trialPassed.has(path)) return;
    await trialLoad(path, signal);
    this.trialPassed.add(path);
  }

  async estimateMemory(model: ModelSpec, options: ModelOptions): Promise<MemoryEstimate> {
    this.lifecycle.started();
    return this.need(model, await this.shapeOf(model, mergeOptions(model.parameters, options)));
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
    return { llama, residency, stopping: new AbortController(), runs: new Set(), threads: defaultThreads(this.settings.llama_cpp.threads) };
  }

  /** The request's signal, also aborted when the engine stops. */
  private requestSignal(signal: AbortSignal): { signal: AbortSignal; unlink(): void } {
    const { stopping, runs } = this.lifecycle.started();
    if (stopping.signal.aborted) return linkSignals(signal, stopping.signal);
    const run = linkSignals(signal);
    runs.add(run.controller);
    return {
      signal: run.signal,
      unlink: () => {
        run.unlink();
        runs.delete(run.controller);
      },
    };
  }

  private async lease(spec: ModelSpec, options: ModelOptions, keepAliveMs: number, signal: AbortSignal): Promise<Lease<ResidentModel>> {
    const { llama, residency } = this.lifecycle.started();
    const shape = await this.shapeOf(spec, options);
    return residency.acquire({
      name: spec.name,
      fingerprint: JSON.stringify([spec.digest, spec.modelPath, spec.adapterPaths, shape.contextLength, shape.gpuLayers ?? null]),
      keepAliveMs,
      signal,
      load: async () => {
        const asked = requestedContext(options, { numCtx: this.settings.llama_cpp.num_ctx });
        if (asked > shape.contextLength) {
          this.logger.warn({ model: spec.name, num_ctx: asked, n_ctx_train: shape.contextLength }, 'requested context size too large for model');
        }
        const need = await this.makeRoom(spec, shape, signal);
        const started = performance.now();
        this.reserved.push(need);
        try {
          const resident = await ResidentModel.load(llama, spec, shape);
          this.logger.info({ model: spec.name, contextLength: resident.contextLength, ms: Math.round(performance.now() - started) }, 'model loaded');
          return resident;
        } finally {
          this.reserved.splice(this.reserved.indexOf(need), 1);
        }
      },
    });
  }

  /** The request's options as a load: num_ctx capped at the model's trained context. */
  private async shapeOf(spec: ModelSpec, options: ModelOptions): Promise<LoadShape> {
    const info = await this.files.info(spec.modelPath);
    const defaults = {
      numCtx: this.settings.llama_cpp.num_ctx,
      parallel: this.settings.num_parallel,
      threads: this.lifecycle.started().threads,
    };
    return loadShape(options, defaults, info.architectureMetadata?.context_length);
  }

  private async need(spec: ModelSpec, shape: LoadShape): Promise<MemoryEstimate> {
    const free = await this.freeMemory();
    return estimateMemory(this.lifecycle.started().llama, await this.files.info(spec.modelPath), { ...shape, ceiling: free.ram + free.vram });
  }

  /** Memory a new allocation may take now: what the system (or this process's cgroup) has free, less loads under way. */
  private async freeMemory(): Promise<FreeMemory> {
    const { llama } = this.lifecycle.started();
    const vram = llama.gpu === false ? 0 : (await llama.getVramState()).free;
    const reserved = this.reserved.reduce((sum, need) => ({ ram: sum.ram + need.total - need.vram, vram: sum.vram + need.vram }), { ram: 0, vram: 0 });
    return { ram: process.availableMemory() - reserved.ram, vram: vram - reserved.vram };
  }

  /**
   * The memory a load needs, once it fits: idle models are unloaded and busy ones waited for.
   * Refused at once when it could not fit even with every other model gone.
   */
  private async makeRoom(spec: ModelSpec, shape: LoadShape, signal: AbortSignal): Promise<MemoryEstimate> {
    const { residency } = this.lifecycle.started();
    const need = await this.need(spec, shape);
    const free = await this.freeMemory();
    const others = [...residency.residents()].filter((r) => r.name !== spec.name).map((r) => r.resident.memory());
    const releasable = { ram: others.reduce((sum, m) => sum + m.size - m.vram, 0), vram: others.reduce((sum, m) => sum + m.vram, 0) };
    const never = memoryShortfall(need, { ram: free.ram + releasable.ram, vram: free.vram + releasable.vram });
    if (never) throw insufficientMemory(never);
    let shortfall: string | undefined;
    const fits = async () => (shortfall = memoryShortfall(need, await this.freeMemory())) === undefined;
    if (!(await residency.makeRoom(spec.name, fits, signal))) throw insufficientMemory(shortfall!);
    return need;
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

/** The model's default system prompt leads a conversation that brings none of its own. */
function withSystem(system: string | undefined, messages: ChatMessage[]): ChatMessage[] {
  return system && !messages.some((m) => m.role === 'system') ? [{ role: 'system', content: system }, ...messages] : messages;
}

/** Prompt tokens read back to find whether the prompt ends inside an opening tag, whitespace after it included. */
const PROMPT_TAIL_TOKENS = 64;

/** Ollama's thinking parser, already thinking when the prompt ends with the opening tag (templates that prefill it). */
function thinkingParser(model: LlamaModel, prompt: readonly Token[], tags: ThinkingTags): ThinkingParser {
  const tail = prompt.length > 0 ? model.detokenize(prompt.slice(-PROMPT_TAIL_TOKENS), true) : '';
  return new ThinkingParser(tags, promptOpensThinking(tail, tags));
}

/** Template problems are the model's, not the engine's: report them as a bad request. */
async function rendered<T>(render: () => T | Promise<T>): Promise<T> {
  try {
    return await render();
  } catch (error) {
    if (error instanceof TemplateError) throw new ProductError('OD_ERR_BAD_REQUEST', `template: ${error.message}`, { cause: error });
    throw error;
  }
}
