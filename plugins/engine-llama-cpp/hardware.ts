// What this node's hardware offers llama.cpp: the GPU backend to ask for, default thread count,
// how many models may stay loaded, the GPUs with their VRAM, and memory estimates for a model.

import { availableParallelism } from 'node:os';
import { GgufInsights, type GgufFileInfo, type Llama, type LlamaOptions } from 'node-llama-cpp';
import type { GpuInfo, MemoryEstimate } from '../../core/contracts/engine.js';
import type { NodeConfig } from '../../core/config/schema.js';

type GpuSetting = NodeConfig['engine']['llama_cpp']['gpu'];

export function gpuOption(setting: GpuSetting): LlamaOptions['gpu'] {
  switch (setting) {
    case 'cuda':
    case 'vulkan':
    case 'metal':
      return setting;
    case 'off':
      return false;
    default:
      return 'auto';
  }
}

/** All cores contend badly with the event loop and each other: leave one free. */
export function defaultThreads(configured: number): number {
  return configured > 0 ? configured : Math.max(1, availableParallelism() - 1);
}

/** Ollama's rule: the configured cap, else 3 per GPU, else 3 on CPU. */
export function modelCapacity(configured: number, gpuCount: number): number {
  return configured > 0 ? configured : 3 * Math.max(1, gpuCount);
}

export async function gpuList(llama: Llama): Promise<GpuInfo[]> {
  if (llama.gpu === false) return [];
  const [names, vram] = await Promise.all([llama.getGpuDeviceNames(), llama.getVramState()]);
  // llama.cpp reports VRAM for all devices of the backend together; share it out evenly.
  const share = (bytes: number) => Math.floor(bytes / Math.max(1, names.length));
  return names.map((name, index) => ({
    id: String(index),
    name,
    backend: llama.gpu as string,
    vramTotal: share(vram.total),
    vramFree: share(vram.free),
  }));
}

export interface EstimateInput {
  contextLength: number;
  parallel: number;
  batchSize?: number;
  /** Ollama's num_gpu; absent lets the resolver choose what fits the free VRAM. */
  gpuLayers?: number;
  /** Bytes past which the figure only needs to show the load cannot fit. */
  ceiling: number;
}

type ContextQuery = Parameters<GgufInsights['estimateContextResourceRequirementsV2']>[0];

/**
 * llama.cpp's own estimate of a context, which is exact here, allocates bookkeeping for every cell
 * (~50 bytes each: 2e9 cells would take the process down). The KV cache alone is plain arithmetic
 * and never more than the whole: when it already passes `ceiling`, it is the answer.
 */
export async function estimateContext(insights: GgufInsights, query: ContextQuery, ceiling: number): Promise<MemoryEstimate> {
  const floor = insights.estimateContextResourceRequirements({ ...query, flashAttention: false, includeGraphOverhead: false });
  if (floor.cpuRam + floor.gpuVram > ceiling) return { total: floor.cpuRam + floor.gpuVram, vram: floor.gpuVram };
  const exact = await insights.estimateContextResourceRequirementsV2(query);
  return { total: exact.cpuRam + exact.gpuVram, vram: exact.gpuVram };
}

export async function estimateMemory(llama: Llama, info: GgufFileInfo, input: EstimateInput): Promise<MemoryEstimate> {
  const insights = await GgufInsights.from(info, llama);
  const gpuLayers =
    llama.gpu === false
      ? 0
      : (input.gpuLayers ??
        (await insights.configurationResolver.resolveAndScoreConfig({ targetContextSize: input.contextLength })).resolvedValues.gpuLayers);
  const model = insights.estimateModelResourceRequirements({ gpuLayers });
  const modelBytes = model.cpuRam + model.gpuVram;
  const context = await estimateContext(
    insights,
    {
      contextSize: input.contextLength,
      modelGpuLayers: gpuLayers,
      sequences: input.parallel,
      ...(input.batchSize ? { batchSize: input.batchSize } : {}),
    },
    input.ceiling - modelBytes,
  );
  return { total: modelBytes + context.total, vram: model.gpuVram + context.vram };
}
