// What each node's prompt cache likely holds, mirrored from the requests routed there: Ollama keeps
// num_parallel cache slots per loaded model, each reused by the prompt sharing its longest prefix.
// Pure and bounded: no clock, no I/O, at most maxNodes × maxSlots × maxBlocks block hashes.

import { MAX_PROMPT_BLOCKS } from './prompt-blocks.js';

export interface PrefixIndexLimits {
  /** (node, model) caches tracked; the least recently used is forgotten past it. */
  maxNodes: number;
  /** Slots tracked per cache, whatever a node reports. */
  maxSlots: number;
  /** Leading blocks kept per slot. */
  maxBlocks: number;
}

export const DEFAULT_PREFIX_INDEX_LIMITS: Readonly<PrefixIndexLimits> = Object.freeze({
  maxNodes: 512,
  maxSlots: 16,
  maxBlocks: MAX_PROMPT_BLOCKS,
});

interface NodeCache {
  slots: number;
  /** Least recently used first. */
  chains: (readonly string[])[];
}

/** Leading entries two hash chains share: entry i equal means entries 0..i are, so a binary search. */
export function sharedBlocks(a: readonly string[], b: readonly string[]): number {
  let low = 0;
  let high = Math.min(a.length, b.length);
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (a[mid - 1] === b[mid - 1]) low = mid;
    else high = mid - 1;
  }
  return low;
}

export class PrefixIndex {
  private readonly limits: PrefixIndexLimits;
  // Map order is recency: a touched cache is deleted and set again.
  private readonly caches = new Map<string, NodeCache>();

  constructor(limits: Partial<PrefixIndexLimits> = {}) {
    this.limits = { ...DEFAULT_PREFIX_INDEX_LIMITS, ...limits };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`prefix index ${name} must be a whole number ≥ 1, got ${value}`);
    }
  }

  /**
   * A request with these blocks started on the node: it takes the slot holding its longest shared
   * prefix, else a free one, else the least recently used. `slots` is the node's count (its
   * engine.num_parallel); omitted, the count recorded before (1 at first) stays. No blocks, no change.
   */
  record(nodeId: string, model: string, blocks: readonly string[], slots?: number): void {
    if (blocks.length === 0) return;
    const key = cacheKey(nodeId, model);
    const cache = this.caches.get(key) ?? { slots: 1, chains: [] };
    this.caches.delete(key);
    if (slots !== undefined && Number.isFinite(slots)) cache.slots = Math.min(Math.max(1, Math.floor(slots)), this.limits.maxSlots);
    const chain = blocks.length > this.limits.maxBlocks ? blocks.slice(0, this.limits.maxBlocks) : blocks;
    let reused = -1;
    let longest = 0;
    cache.chains.forEach((held, i) => {
      const shared = sharedBlocks(held, chain);
      if (shared > longest) [reused, longest] = [i, shared];
    });
    if (reused >= 0) cache.chains.splice(reused, 1);
    else if (cache.chains.length >= cache.slots) cache.chains.shift();
    cache.chains.push(chain);
    while (cache.chains.length > cache.slots) cache.chains.shift();
    this.caches.set(key, cache);
    if (this.caches.size > this.limits.maxNodes) this.caches.delete(this.caches.keys().next().value!);
  }

  /** Leading blocks of `blocks` the node's cache for the model holds: the longest one slot shares. */
  cachedBlocks(nodeId: string, model: string, blocks: readonly string[]): number {
    if (blocks.length === 0) return 0;
    const cache = this.caches.get(cacheKey(nodeId, model));
    let longest = 0;
    for (const held of cache?.chains ?? []) longest = Math.max(longest, sharedBlocks(held, blocks));
    return longest;
  }

  /** cachedBlocks for each of the candidates, in their order, into `into` (a new array when omitted). */
  lookup(model: string, blocks: readonly string[], candidates: readonly { nodeId: string }[], into: number[] | Float64Array = new Float64Array(candidates.length)): number[] | Float64Array {
    for (let i = 0; i < candidates.length; i++) into[i] = this.cachedBlocks(candidates[i].nodeId, model, blocks);
    return into;
  }

  /** Block hashes held in all: at most maxNodes × maxSlots × maxBlocks. */
  get size(): number {
    let total = 0;
    for (const { chains } of this.caches.values()) for (const chain of chains) total += chain.length;
    return total;
  }
}

const cacheKey = (nodeId: string, model: string) => `${model}\u0000${nodeId}`;
