// The VRAM a model takes at a context length, read from its GGUF header alone, as GPUStack's
// gguf-parser estimates it: weights, the KV cache, and the compute buffer of one batch.

import type { GgufFile } from './gguf.js';

/** ggml's [elements per block, bytes per block] for each tensor type (ggml.c type_traits). */
const BLOCKS: Record<string, readonly [number, number]> = {
  F32: [1, 4], F16: [1, 2], BF16: [1, 2], F64: [1, 8], I8: [1, 1], I16: [1, 2], I32: [1, 4], I64: [1, 8],
  Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q8_0: [32, 34], Q8_1: [32, 36],
  Q2_K: [256, 84], Q3_K: [256, 110], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210], Q8_K: [256, 292],
  IQ2_XXS: [256, 66], IQ2_XS: [256, 74], IQ3_XXS: [256, 98], IQ1_S: [256, 50], IQ4_NL: [32, 18], IQ3_S: [256, 110],
  IQ2_S: [256, 82], IQ4_XS: [256, 136], IQ1_M: [256, 56], TQ1_0: [256, 54], TQ2_0: [256, 66], MXFP4: [32, 17],
};

/** llama.cpp's default n_batch: the tokens one compute step evaluates. */
export const COMPUTE_BATCH = 512;
/** The KV cache's element size: llama.cpp keeps it in F16 unless told otherwise. */
const KV_BYTES = 2;
/** Activations and attention scores are F32. */
const ACTIVATION_BYTES = 4;

export interface VramEstimate {
  weights: number;
  kvCache: number;
  compute: number;
  total: number;
  /** The context the estimate is for: the one asked, capped to the model's trained context. */
  contextLength: number;
}

/** Bytes a tensor of `type` and `shape` takes; an unknown type counts as F32, the largest common one. */
export function tensorBytes(type: string, shape: number[]): number {
  const [perBlock, blockBytes] = BLOCKS[type] ?? BLOCKS.F32!;
  const elements = shape.reduce((product, n) => product * n, 1);
  return Math.ceil(elements / perBlock) * blockBytes;
}

/** The number from `key`, or undefined; a per-layer array (as some models give head counts) yields its largest. */
function figure(file: GgufFile, key: string): number | undefined {
  const value = file.metadata[key];
  if (Array.isArray(value)) {
    const numbers = value.filter((v): v is number => typeof v === 'number');
    return numbers.length > 0 ? Math.max(...numbers) : undefined;
  }
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * The estimate for running `file` with a context of `contextLength` tokens. A header missing the
 * attention figures (an embedding-only or unusual architecture) gets weights and nothing more.
 */
export function estimateVram(file: GgufFile, contextLength: number): VramEstimate {
  const arch = file.metadata['general.architecture'];
  const prefix = typeof arch === 'string' ? arch : 'llama';
  const trained = figure(file, `${prefix}.context_length`);
  const ctx = Math.max(1, Math.floor(trained ? Math.min(contextLength, trained) : contextLength));
  const weights = file.tensors.reduce((sum, tensor) => sum + tensorBytes(tensor.type, tensor.shape), 0);

  const layers = figure(file, `${prefix}.block_count`) ?? 0;
  const embedding = figure(file, `${prefix}.embedding_length`) ?? 0;
  const heads = figure(file, `${prefix}.attention.head_count`) ?? 0;
  const kvHeads = figure(file, `${prefix}.attention.head_count_kv`) ?? heads;
  const headDim = heads > 0 ? embedding / heads : 0;
  const keyLength = figure(file, `${prefix}.attention.key_length`) ?? headDim;
  const valueLength = figure(file, `${prefix}.attention.value_length`) ?? headDim;
  const kvCache = layers * ctx * kvHeads * (keyLength + valueLength) * KV_BYTES;

  // One batch's logits over the vocabulary, its hidden states, and the attention scores of one
  // layer (llama.cpp reuses the graph's buffers from layer to layer).
  const vocabulary = file.tensors.find((tensor) => tensor.name === 'token_embd.weight')?.shape[1] ?? 0;
  const batch = Math.min(COMPUTE_BATCH, ctx);
  const compute = heads > 0 ? batch * (vocabulary + embedding + heads * ctx) * ACTIVATION_BYTES : 0;

  return { weights, kvCache, compute, total: weights + kvCache + compute, contextLength: ctx };
}
