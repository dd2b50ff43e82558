// The shape a model is loaded in for a request's options: context per slot, slots, batch, layers and
// threads, bounded the way Ollama and llama.cpp bound them, whatever numbers the options carry.

import type { ModelOptions } from '../../core/contracts/engine.js';

export interface LoadShape {
  /** Tokens each slot holds. */
  contextLength: number;
  /** Requests served at once: one llama.cpp sequence each, each with its own contextLength. */
  parallel: number;
  threads: number;
  batchSize?: number;
  /** Layers to offload (Ollama's num_gpu); absent lets llama.cpp fit what VRAM allows. */
  gpuLayers?: number;
}

export interface ShapeDefaults {
  numCtx: number;
  parallel: number;
  threads: number;
}

const positive = (value: number | undefined): number | undefined => (value !== undefined && value > 0 ? Math.floor(value) : undefined);

/** num_ctx as asked (the engine's default when unset or not positive), before any cap. */
export function requestedContext(options: ModelOptions, defaults: Pick<ShapeDefaults, 'numCtx'>): number {
  return positive(options.num_ctx) ?? defaults.numCtx;
}

/**
 * Ollama caps num_ctx at the context the model was trained with (`<arch>.context_length`), and
 * llama.cpp never batches more tokens than a context holds.
 */
export function loadShape(options: ModelOptions, defaults: ShapeDefaults, trainedContext: number | undefined): LoadShape {
  const asked = requestedContext(options, defaults);
  const contextLength = trainedContext !== undefined && trainedContext > 0 ? Math.min(asked, trainedContext) : asked;
  const batch = positive(options.num_batch);
  return {
    contextLength,
    parallel: defaults.parallel,
    threads: positive(options.num_thread) ?? defaults.threads,
    ...(batch ? { batchSize: Math.min(batch, contextLength) } : {}),
    ...(options.num_gpu !== undefined && options.num_gpu >= 0 ? { gpuLayers: Math.floor(options.num_gpu) } : {}),
  };
}
