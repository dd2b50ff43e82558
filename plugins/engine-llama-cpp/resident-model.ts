// One loaded model: llama.cpp weights (plus LoRA adapters), a context with one sequence per parallel
// slot, an embedding context made on first use, and what they all occupy in RAM and VRAM.

import {
  resolveChatWrapper,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel,
} from 'node-llama-cpp';
import type { MemoryEstimate, ModelSpec } from '../../core/contracts/engine.js';
import { checkGguf } from '../../core/models/gguf.js';
import { estimateContext } from './hardware.js';
import type { LoadShape } from './load-shape.js';
import type { Resident } from './residency.js';
import { SlotPool } from './slots.js';

export class ResidentModel implements Resident {
  readonly slots: SlotPool<LlamaContextSequence>;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  private embedQueue: Promise<unknown> = Promise.resolve();
  private wrapper: ChatWrapper | undefined;

  private constructor(
    readonly spec: ModelSpec,
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly settings: LoadShape,
  ) {
    this.slots = new SlotPool(Array.from({ length: settings.parallel }, () => context.getSequence()));
  }

  static async load(llama: Llama, spec: ModelSpec, settings: LoadShape): Promise<ResidentModel> {
    // llama.cpp reads the model and its adapters next, and trusts their headers' counts.
    await Promise.all([spec.modelPath, ...spec.adapterPaths].map(checkGguf));
    const model = await llama.loadModel({
      modelPath: spec.modelPath,
      gpuLayers: llama.gpu === false ? 0 : (settings.gpuLayers ?? 'auto'),
    });
    try {
      const context = await model.createContext({
        contextSize: settings.contextLength,
        sequences: settings.parallel,
        threads: settings.threads,
        ...(settings.batchSize ? { batchSize: settings.batchSize } : {}),
        ...(spec.adapterPaths.length > 0 ? { lora: { adapters: spec.adapterPaths.map((filePath) => ({ filePath })) } } : {}),
      });
      return new ResidentModel(spec, model, context, settings);
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  /** Tokens each slot can hold (llama.cpp may round the requested length up). */
  get contextLength(): number {
    return this.context.contextSize;
  }

  /**
   * The chat format from the model's own metadata: its Jinja chat template as written, else a known
   * family. Asking node-llama-cpp to find a specialized wrapper equivalent to the template renders
   * it against every candidate on the main thread, which stalls every request for up to a second.
   */
  get chatWrapper(): ChatWrapper {
    const template = this.model.fileInfo.metadata.tokenizer?.chat_template;
    return (this.wrapper ??= resolveChatWrapper(this.model, typeof template === 'string' && template.trim() !== '' ? { type: 'jinjaTemplate' } : {}));
  }

  memory(): { size: number; vram: number } {
    const parts = [this.model.memoryUsage, this.context.memoryUsage];
    return { size: parts.reduce((sum, p) => sum + p.ram + p.vram, 0), vram: parts.reduce((sum, p) => sum + p.vram, 0) };
  }

  /** num_ctx as asked (capped at the trained context), before llama.cpp rounds it up: Ollama bounds embed input by it. */
  get askedContextLength(): number {
    return this.settings.contextLength;
  }

  /** What the embedding context will take when first made; undefined once it exists. */
  async embeddingNeed(ceiling: number): Promise<MemoryEstimate | undefined> {
    if (this.embedding) return undefined;
    const contextSize = this.settings.contextLength;
    return estimateContext(
      this.model.fileInsights,
      { contextSize, batchSize: contextSize, sequences: 1, isEmbeddingContext: true, modelGpuLayers: this.model.gpuLayers },
      ceiling,
    );
  }

  /** Runs `use` with the embedding context, one call at a time (it has a single sequence). */
  embedWith<T>(use: (context: LlamaEmbeddingContext) => Promise<T>): Promise<T> {
    this.embedding ??= this.model.createEmbeddingContext({
      contextSize: this.settings.contextLength,
      // Pooled embeddings need the whole input in one batch.
      batchSize: this.settings.contextLength,
      threads: this.settings.threads,
    });
    const embedding = this.embedding;
    const run = this.embedQueue.then(async () => use(await embedding));
    this.embedQueue = run.catch(() => undefined);
    return run;
  }

  async dispose(): Promise<void> {
    this.slots.close(new Error(`model ${this.spec.name} was unloaded`));
    const embedding = await this.embedding?.catch(() => undefined);
    await embedding?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}
