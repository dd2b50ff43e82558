// The simulator's timing and memory model: pure functions of the options and the moment's load.
// The engine sleeps for what these return and reports the same figures in its done events.

import type { SimOptions } from './options.js';

/** How much slower each slot runs while `busySlots` slots of one model work at once. */
export function slowdown(busySlots: number, options: Pick<SimOptions, 'parallel_slowdown'>): number {
  return 1 + options.parallel_slowdown * Math.max(0, busySlots - 1);
}

/** Time to load a model of `modelSize` bytes. */
export function loadMs(modelSize: number, options: Pick<SimOptions, 'load_ms' | 'load_bytes_per_second'>): number {
  return options.load_ms + (modelSize / options.load_bytes_per_second) * 1000;
}

/** Time from a slot starting a request to its first decode step; cached prompt tokens are not counted in. */
export function promptEvalMs(
  evaluatedTokens: number,
  busySlots: number,
  options: Pick<SimOptions, 'ttft_ms' | 'prompt_tokens_per_second' | 'parallel_slowdown'>,
): number {
  return options.ttft_ms + ((evaluatedTokens / options.prompt_tokens_per_second) * 1000) * slowdown(busySlots, options);
}

/** Time to decode one token while `busySlots` slots are busy. */
export function tokenMs(busySlots: number, options: Pick<SimOptions, 'tokens_per_second' | 'parallel_slowdown'>): number {
  return (1000 / options.tokens_per_second) * slowdown(busySlots, options);
}

/** Bytes a loaded model holds: its weights plus a KV cache of `numCtx` tokens for each slot. */
export function modelMemory(modelSize: number, numCtx: number, numParallel: number, options: Pick<SimOptions, 'kv_bytes_per_token'>): number {
  return modelSize + numCtx * numParallel * options.kv_bytes_per_token;
}

export const msToNs = (ms: number): number => Math.round(ms * 1e6);
