// The simulated engine: the Engine contract over the registry, slots, timing model and synthetic
// text. Each request sleeps for exactly what the timing model says and reports those figures.

import type {
  Capability,
  ChatRequest,
  EmbedRequest,
  EmbedResult,
  Engine,
  GenerateRequest,
  GpuInfo,
  LoadedModel,
  Logprob,
  MemoryEstimate,
  ModelOptions,
  ModelSpec,
  RunEvent,
  RunStats,
} from '../../core/contracts/engine.js';
import { untilAborted } from '../../core/abort.js';
import { badRequest, ProductError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { requireFit } from '../../core/models/memory-fit.js';
import { inferThinkingTags, thinkingEnabled } from '../../core/models/thinking.js';
import { sleepUntil } from './abort.js';
import { GpuInventory } from './gpus.js';
import type { SimOptions } from './options.js';
import { ModelRegistry, type LoadedEntry } from './registry.js';
import { StopFilter } from './stops.js';
import { BOS, embedding, outputWords, runSeed, tokenCount, tokenId, tokenize, tokenLogprob } from './synthetic.js';
import { modelMemory, msToNs, promptEvalMs, tokenMs } from './timing.js';

const CAPABILITIES: readonly Capability[] = ['completion', 'embedding'];

export interface SimSettings {
  options: SimOptions;
  numParallel: number;
  /** Already resolved: 0 in the config means 3 per GPU. */
  maxLoadedModels: number;
}

interface Session {
  registry: ModelRegistry;
  stopping: AbortController;
}

/**
 * A prompt that fills the context keeps its first token and its last half-context, as the llama.cpp
 * engine cuts it; each text is read only as far as the context reaches.
 */
function fitContext(tokens: number[], contextLength: number): number[] {
  if (tokens.length < contextLength) return tokens;
  const keep = Math.floor(contextLength / 2);
  return tokens[0] === BOS ? [BOS, ...tokens.slice(-(keep - 1))] : tokens.slice(-keep);
}

function generatePrompt(request: GenerateRequest, contextLength: number): number[] {
  const system = request.raw ? '' : (request.system ?? request.model.system ?? '');
  const history = request.context?.length ? request.context.slice(-contextLength) : [BOS];
  return fitContext([...history, ...tokenize(system, contextLength), ...tokenize(request.prompt, contextLength)], contextLength);
}

/** Role markers between messages, so a conversation's next turn extends the previous prompt; the newest turns that fit. */
function chatPrompt(request: ChatRequest, contextLength: number): number[] {
  const { model, messages } = request;
  const system = model.system && !messages.some((message) => message.role === 'system') ? [{ role: 'system', content: model.system }] : [];
  const turns = [...system, ...model.messages, ...messages];
  const kept: number[][] = [];
  for (let index = turns.length - 1, room = contextLength; index >= 0 && room > 0; index--) {
    const turn = [tokenId(`<|${turns[index]!.role}|>`), ...tokenize(turns[index]!.content, room)];
    kept.unshift(turn);
    room -= turn.length;
  }
  // A last assistant message is left open: the model goes on with it, as Ollama's templates do.
  const open = turns.at(-1)?.role === 'assistant' ? [] : [tokenId('<|assistant|>')];
  return fitContext([BOS, ...kept.flat(), ...open], contextLength);
}

/** A simulated model thinks as a real one would: when its template renders thinking. */
function thinks(model: ModelSpec): boolean {
  return model.template !== undefined && inferThinkingTags(model.template) !== undefined;
}

function generateNeeds(request: GenerateRequest): Capability[] {
  return [...(request.suffix ? (['insert'] as const) : []), ...(request.images?.length ? (['vision'] as const) : [])];
}

function chatNeeds(request: ChatRequest): Capability[] {
  const images = request.messages.some((message) => message.images?.length);
  return [...(request.tools?.length ? (['tools'] as const) : []), ...(images ? (['vision'] as const) : [])];
}

export class SimEngine implements Engine {
  readonly name = 'sim';
  private readonly inventory: GpuInventory;
  private session: Session | undefined;

  constructor(
    private readonly settings: SimSettings,
    private readonly logger: Logger,
  ) {
    this.inventory = new GpuInventory(settings.options.gpus, settings.options.vram_bytes);
  }

  start(): void {
    if (this.session) return;
    const stopping = new AbortController();
    const registry = new ModelRegistry({ ...this.settings, inventory: this.inventory, stopSignal: stopping.signal, logger: this.logger });
    this.session = { registry, stopping };
  }

  stop(): void {
    if (!this.session) return;
    this.session.stopping.abort(new Error('the sim engine stopped'));
    this.session.registry.clear();
    this.session = undefined;
  }

  generate(request: GenerateRequest): AsyncIterable<RunEvent> {
    const continued = request.continueFrom ? tokenize(request.continueFrom) : [];
    return untilAborted(this.run(request, generateNeeds(request), (contextLength) => generatePrompt(request, contextLength), true, continued), request.signal);
  }

  chat(request: ChatRequest): AsyncIterable<RunEvent> {
    return untilAborted(this.run(request, chatNeeds(request), (contextLength) => chatPrompt(request, contextLength), false), request.signal);
  }

  async embed(request: EmbedRequest): Promise<EmbedResult> {
    const { registry, signal } = this.begin(request.signal);
    const options = { ...request.model.parameters, ...request.options };
    const contextLength = this.contextLength(options);
    const lengths = request.input.map((text) => tokenCount(text, contextLength));
    if (!request.truncate && lengths.some((length) => length > contextLength)) {
      throw badRequest('the input length exceeds the context length');
    }
    const promptEvalCount = lengths.reduce((sum, length) => sum + Math.min(length, contextLength), 0);
    const { entry, loadMs } = await this.lease(registry, request.model, options, request.keepAliveMs, signal);
    try {
      await entry.slots.acquire(signal);
      try {
        await sleepUntil(performance.now() + promptEvalMs(promptEvalCount, entry.slots.busy, this.settings.options), signal);
      } finally {
        entry.slots.release();
      }
    } finally {
      registry.release(entry, request.keepAliveMs);
    }
    const dimensions = this.settings.options.embedding_dim;
    return {
      embeddings: request.input.map((text) => embedding(text, dimensions, contextLength)),
      promptEvalCount,
      loadDuration: msToNs(loadMs),
    };
  }

  async load(model: ModelSpec, keepAliveMs: number, signal: AbortSignal): Promise<number> {
    const session = this.begin(signal);
    const { entry, loadMs } = await this.lease(session.registry, model, model.parameters, keepAliveMs, session.signal);
    session.registry.release(entry, keepAliveMs);
    return msToNs(loadMs);
  }

  async unload(name: string, signal?: AbortSignal): Promise<void> {
    await this.session?.registry.unload(name, signal);
  }

  loaded(): LoadedModel[] {
    return this.session?.registry.list() ?? [];
  }

  async capabilities(model: ModelSpec): Promise<Capability[]> {
    return [...CAPABILITIES, ...(thinks(model) ? (['thinking'] as const) : [])];
  }

  async estimateMemory(model: ModelSpec, options: ModelOptions): Promise<MemoryEstimate> {
    return this.memory(model, { ...model.parameters, ...options });
  }

  async gpus(): Promise<GpuInfo[]> {
    return this.inventory.list();
  }

  private async *run(
    request: GenerateRequest | ChatRequest,
    needs: Capability[],
    promptFor: (contextLength: number) => number[],
    withContext: boolean,
    continued: number[] = [],
  ): AsyncGenerator<RunEvent> {
    const { registry, signal } = this.begin(request.signal);
    const missing = needs.find((capability) => !CAPABILITIES.includes(capability));
    if (missing) throw new ProductError('OD_ERR_UNSUPPORTED', `${request.model.name} does not support ${missing}`);
    const options = { ...request.model.parameters, ...request.options };
    const { entry, loadMs } = await this.lease(registry, request.model, options, request.keepAliveMs, signal);
    const asked = promptFor(entry.contextLength);
    // A continuation evaluates the answer so far as prompt, and goes on where the same run would.
    const prompt = [...asked, ...continued];
    let stats: RunStats;
    const generated: number[] = [];
    try {
      await entry.slots.acquire(signal);
      try {
        const thinkingSteps = thinkingEnabled(request.think) && thinks(request.model) ? this.settings.options.thinking_tokens : 0;
        const run = continued.length > 0 ? { seedFrom: asked, skip: thinkingSteps + continued.length, thinkingSteps: 0 } : { seedFrom: asked, skip: 0, thinkingSteps };
        stats = { ...(yield* this.decode(entry, prompt, options, run, generated, request.logprobs, signal)), loadDuration: msToNs(loadMs) };
        entry.cache.remember([...prompt, ...generated]);
      } finally {
        entry.slots.release();
      }
    } finally {
      // Released before the done event goes out, so keep_alive 0 has unloaded by the time a caller sees it.
      registry.release(entry, request.keepAliveMs);
    }
    yield { type: 'done', ...stats, ...(withContext ? { context: [...prompt, ...generated] } : {}) };
  }

  /**
   * Prompt evaluation, then one token per decode step until the model stops, num_predict or a stop
   * string; the first `run.thinkingSteps` tokens are thinking. The words come from a run seeded by
   * `run.seedFrom`, past its first `run.skip`: those of an answer begun elsewhere.
   */
  private async *decode(
    entry: LoadedEntry,
    prompt: number[],
    options: ModelOptions,
    run: { seedFrom: number[]; skip: number; thinkingSteps: number },
    generated: number[],
    logprobs: { top: number } | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<RunEvent, Omit<RunStats, 'loadDuration'>> {
    const timing = this.settings.options;
    const evaluated = prompt.length - entry.cache.cachedPrefix(prompt);
    const promptMs = promptEvalMs(evaluated, entry.slots.busy, timing);
    let deadline = performance.now() + promptMs;
    await sleepUntil(deadline, signal);

    // The model ends its answer after response_tokens, counted from the start of the run: a
    // continuation has fewer to go. At num_predict == that the limit wins: the end would be next.
    const natural = Math.max(0, timing.response_tokens - run.skip);
    const limited = options.num_predict !== undefined && options.num_predict > 0 && options.num_predict <= natural;
    const limit = limited ? options.num_predict! : natural;
    const { thinkingSteps } = run;
    const nextWord = outputWords(runSeed(options.seed ?? 0, run.seedFrom));
    for (let skipped = 0; skipped < run.skip; skipped++) nextWord();
    const stops = new StopFilter(options.stop);
    // Scores of tokens whose text the stop filter still holds; they go out with that text.
    const pending: Logprob[] = [];
    let evalMs = 0;
    let stopped = false;
    while (!stopped && generated.length < limit) {
      const stepMs = tokenMs(entry.slots.busy, timing);
      deadline += stepMs;
      evalMs += stepMs;
      await sleepUntil(deadline, signal);
      const { word, id } = nextWord();
      generated.push(id);
      const first = run.skip === 0 && (generated.length === 1 || generated.length === thinkingSteps + 1);
      const piece = first ? word : ` ${word}`;
      const scored = logprobs ? [tokenLogprob(piece, id, logprobs.top)] : [];
      if (generated.length <= thinkingSteps) {
        yield { type: 'thinking', text: piece, ...(logprobs ? { logprobs: scored } : {}) };
        continue;
      }
      pending.push(...scored);
      const out = stops.push(piece);
      stopped = out.stopped;
      if (out.text) yield { type: 'token', text: out.text, ...(logprobs ? { logprobs: pending.splice(0) } : {}) };
    }
    const rest = stops.flush();
    if (rest) yield { type: 'token', text: rest, ...(logprobs ? { logprobs: pending.splice(0) } : {}) };
    return {
      doneReason: limited && !stopped ? 'length' : 'stop',
      // Ollama counts the whole prompt, cached prefix included; the duration covers only what was evaluated.
      promptEvalCount: prompt.length,
      promptEvalDuration: msToNs(promptMs),
      evalCount: generated.length,
      evalDuration: msToNs(evalMs),
    };
  }

  private begin(requestSignal: AbortSignal): { registry: ModelRegistry; signal: AbortSignal } {
    if (!this.session) throw new ProductError('OD_ERR_INTERNAL', 'the sim engine is not running');
    return { registry: this.session.registry, signal: AbortSignal.any([requestSignal, this.session.stopping.signal]) };
  }

  /** A model too large for the simulated GPUs and RAM together is refused before anything waits for room. */
  private lease(registry: ModelRegistry, model: ModelSpec, options: ModelOptions, keepAliveMs: number, signal: AbortSignal) {
    const shape = { memory: this.memory(model, options), contextLength: this.contextLength(options) };
    requireFit(shape.memory, { ram: this.settings.options.ram_bytes, vram: this.inventory.capacity });
    return registry.acquire(model, shape, keepAliveMs, signal);
  }

  /** num_ctx as the llama.cpp engine takes it: the default unless positive, capped at the trained context. */
  private contextLength(options: ModelOptions): number {
    const asked = options.num_ctx !== undefined && options.num_ctx > 0 ? Math.floor(options.num_ctx) : this.settings.options.num_ctx;
    return Math.min(asked, this.settings.options.context_length);
  }

  private memory(model: ModelSpec, options: ModelOptions): MemoryEstimate {
    const total = modelMemory(model.modelSize, this.contextLength(options), this.settings.numParallel, this.settings.options);
    return { total, vram: options.num_gpu === 0 ? 0 : Math.min(total, this.inventory.capacity) };
  }
}
