// A memory estimate for a model on the daemon: its files plus the KV cache that /api/show's
// model_info implies for the context length. Ollama publishes no estimate of its own.

import type { ModelOptions } from '../../core/contracts/engine.js';

/** Ollama's context length when neither the request nor the model sets num_ctx. */
export const OLLAMA_DEFAULT_CONTEXT = 4096;
/** Ollama's default KV cache type is f16. */
const KV_BYTES_PER_VALUE = 2;

export interface EstimateInput {
  /** /api/show's model_info: the GGUF metadata. */
  modelInfo: Record<string, unknown>;
  /** Bytes of the model, projector and adapter files. */
  fileBytes: number;
  options: ModelOptions;
  /** Parallel requests per model: each holds its own context. */
  parallel: number;
}

/** A number, or the largest of a per-layer list (head_count_kv may be one). */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  if (Array.isArray(value)) {
    const numbers = value.filter((item): item is number => typeof item === 'number' && item > 0);
    return numbers.length > 0 ? Math.max(...numbers) : undefined;
  }
  return undefined;
}

/** KV cache bytes: keys and values for every layer, KV head and position of the context. */
function kvCacheBytes(modelInfo: Record<string, unknown>, contextLength: number): number {
  const arch = modelInfo['general.architecture'];
  if (typeof arch !== 'string') return 0;
  const get = (key: string) => numberOf(modelInfo[`${arch}.${key}`]);
  const layers = get('block_count');
  const embedding = get('embedding_length');
  const heads = get('attention.head_count');
  if (!layers || !embedding || !heads) return 0;
  const kvHeads = get('attention.head_count_kv') ?? heads;
  const keyLength = get('attention.key_length') ?? embedding / heads;
  const valueLength = get('attention.value_length') ?? embedding / heads;
  return Math.ceil(layers * contextLength * kvHeads * (keyLength + valueLength) * KV_BYTES_PER_VALUE);
}

export function estimateBytes(input: EstimateInput): number {
  const contextLength = input.options.num_ctx && input.options.num_ctx > 0 ? input.options.num_ctx : OLLAMA_DEFAULT_CONTEXT;
  return input.fileBytes + kvCacheBytes(input.modelInfo, contextLength * Math.max(1, input.parallel));
}
