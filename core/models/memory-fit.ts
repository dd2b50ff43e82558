// Whether a model load fits the memory a node has free, and the refusal in Ollama's words when it
// does not. Engines decide this before they allocate anything, so a load never takes the node down.

import type { MemoryEstimate } from '../contracts/engine.js';
import { ProductError } from '../errors.js';

export interface FreeMemory {
  /** System memory this process may still take (its cgroup's limit counts). */
  ram: number;
  vram: number;
}

/** Ollama's format.HumanBytes2: binary units, one decimal. */
export function humanBytes(bytes: number): string {
  const units = [
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ] as const;
  for (const [size, unit] of units) if (bytes >= size) return `${(bytes / size).toFixed(1)} ${unit}`;
  return `${Math.max(0, Math.round(bytes))} B`;
}

/**
 * The reason `need` does not fit in `free`, or undefined when it fits. What the GPUs cannot hold
 * spills to system memory (llama.cpp offloads fewer layers), so only system memory can run out.
 */
export function memoryShortfall(need: MemoryEstimate, free: FreeMemory): string | undefined {
  const ram = need.total - Math.min(need.vram, Math.max(0, free.vram));
  if (ram <= free.ram) return undefined;
  return `model requires more system memory (${humanBytes(ram)}) than is available (${humanBytes(Math.max(0, free.ram))})`;
}

export function insufficientMemory(reason: string): ProductError {
  return new ProductError('OD_ERR_INSUFFICIENT_MEMORY', reason);
}

/** Throws the refusal when `need` does not fit in `free`. */
export function requireFit(need: MemoryEstimate, free: FreeMemory): void {
  const shortfall = memoryShortfall(need, free);
  if (shortfall) throw insufficientMemory(shortfall);
}
