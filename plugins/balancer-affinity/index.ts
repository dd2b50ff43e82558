// Prefix and session affinity: a request goes back to the node whose prompt cache holds the
// longest part of its prompt (a chat's history, a shared system prompt) while that node's load
// stays within a bounded imbalance of the least loaded; otherwise, or with no match, the least loaded.

import type { Balancer, Candidate, RouteOutcome, RouteRequest } from '../../core/contracts/balancer.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';
import { ProductError } from '../../core/errors.js';
import { PrefixIndex } from '../../core/scheduler/prefix-index.js';
import { RoutedRequests } from '../../core/scheduler/routed.js';

export const meta = { name: 'affinity', kind: 'balancer', provides: ['balancer'], requires: [] } as const satisfies PluginMeta;

/**
 * SGLang's cache-aware router test, applied to the node the prefix would go to: it is too busy
 * when load − minLoad > absolute AND load > relative × minLoad (load: requests running or queued).
 */
export interface AffinityThresholds {
  /** Requests more than the least loaded node that a cached prefix is worth; a few, as Ollama nodes run a few at once. */
  balance_abs_threshold: number;
  /** Factor over the least loaded node's load a cached prefix is worth. */
  balance_rel_threshold: number;
}

export const DEFAULT_AFFINITY_THRESHOLDS: Readonly<AffinityThresholds> = Object.freeze({ balance_abs_threshold: 4, balance_rel_threshold: 1.5 });

/** The thresholds from scheduler.options, over the defaults; a bad value is a config error naming its key. */
export function affinityThresholds(options: unknown): AffinityThresholds {
  const given = typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : {};
  const thresholds = { ...DEFAULT_AFFINITY_THRESHOLDS };
  for (const key of Object.keys(thresholds) as (keyof AffinityThresholds)[]) {
    const raw = given[key];
    if (raw === undefined) continue;
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ProductError('OD_ERR_CONFIG', `scheduler.options.${key} = ${JSON.stringify(raw)}: must be a number ≥ 0`);
    }
    thresholds[key] = value;
  }
  return thresholds;
}

/** Whether a node at `load` is too busy, beside the least loaded at `minLoad`, to keep a prefix. */
export function tooBusy(load: number, minLoad: number, { balance_abs_threshold, balance_rel_threshold }: AffinityThresholds): boolean {
  return load - minLoad > balance_abs_threshold && load > balance_rel_threshold * minLoad;
}

class Affinity implements Balancer {
  readonly name = meta.name;
  readonly usesPrompt = true;
  readonly deterministic = true;
  private readonly index = new PrefixIndex();
  private readonly routed = new RoutedRequests();
  // The last pick's slot count, for started(), which gets only the node id.
  private picked: { nodeId: string; slots: number } | undefined;

  constructor(private readonly thresholds: AffinityThresholds) {}

  pickNode(request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined {
    let least: Candidate | undefined;
    let minLoad = Infinity;
    let matched: Candidate | undefined;
    let matchedLoad = Infinity;
    let longest = 0;
    const blocks = request.promptBlocks ?? [];
    for (const candidate of candidates) {
      const load = this.routed.load(candidate);
      if (load < minLoad) [least, minLoad] = [candidate, load];
      const cached = blocks.length === 0 ? 0 : this.index.cachedBlocks(candidate.nodeId, request.model, blocks);
      if (cached > longest || (cached === longest && cached > 0 && load < matchedLoad)) [matched, matchedLoad, longest] = [candidate, load, cached];
    }
    const pick = matched && !tooBusy(matchedLoad, minLoad, this.thresholds) ? matched : least;
    this.picked = pick && { nodeId: pick.nodeId, slots: pick.load.slots };
    return pick;
  }

  started(nodeId: string, request: RouteRequest): void {
    this.routed.started(nodeId);
    const slots = this.picked?.nodeId === nodeId ? this.picked.slots : undefined;
    this.index.record(nodeId, request.model, request.promptBlocks ?? [], slots);
  }

  finished(nodeId: string, _request: RouteRequest, _outcome: RouteOutcome): void {
    this.routed.finished(nodeId);
  }
}

/** `init` is the scheduler config section; its `options` may set the two thresholds. */
export function affinity(init?: { options?: unknown }) {
  const thresholds = affinityThresholds(init?.options);
  return (): Balancer => new Affinity(thresholds);
}

export default affinity;
