// Adaptive: the candidate with the lowest estimated time to first token, the estimate computed in
// WebAssembly over one feature row per candidate (wasm/score.ts documents the formula): queue
// wait, model load when the model is not resident, prefill of the prompt part its cache lacks.

import type { Balancer, Candidate, RouteOutcome, RouteRequest } from '../../core/contracts/balancer.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';
import { ProductError } from '../../core/errors.js';
import { PrefixIndex } from '../../core/scheduler/prefix-index.js';
import { PROMPT_BLOCK_TOKENS } from '../../core/scheduler/prompt-blocks.js';
import { RoutedRequests } from '../../core/scheduler/routed.js';
import { candidateFeatures, loadScoreWasm, paramVector, type ScoreParams, type ScoreWasm } from '../../wasm/score.js';
import { leastConnections } from '../balancer-least-connections/index.js';
import { random } from '../balancer-random/index.js';
import { roundRobin } from '../balancer-round-robin/index.js';

export const meta = { name: 'adaptive', kind: 'balancer', provides: ['balancer'], requires: [] } as const satisfies PluginMeta;

const FALLBACKS = { round_robin: roundRobin, least_connections: leastConnections, random } as const;
export type FallbackPolicy = keyof typeof FALLBACKS;

/**
 * A candidate has load figures once its node gossips a slot count (engine.num_parallel, ≥ 1): a
 * node that has not announced its load yet, or runs a version without it, reports 0. Speeds it has
 * not measured (0) are figures too: the estimate uses stand-ins for them.
 */
export function hasLoadFigures(candidate: Candidate): boolean {
  const { slots } = candidate.load;
  return typeof slots === 'number' && Number.isFinite(slots) && slots >= 1;
}

class Adaptive implements Balancer {
  readonly name = meta.name;
  readonly usesPrompt = true;
  readonly deterministic: boolean;
  private readonly wasm: ScoreWasm = loadScoreWasm();
  private readonly index = new PrefixIndex();
  private readonly routed = new RoutedRequests();
  private cachedTokens = new Float64Array(16);
  private inFlight = new Float64Array(16);
  private picked: { nodeId: string; slots: number } | undefined;

  constructor(
    private readonly fallback: Balancer,
    fallbackPolicy: FallbackPolicy,
    params: Partial<ScoreParams>,
  ) {
    this.deterministic = fallbackPolicy !== 'random';
    // Parameters live in the module's static data, untouched when the candidate buffers grow.
    this.wasm.buffers(0).params.set(paramVector(params));
  }

  pickNode(request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (!candidates.every(hasLoadFigures)) return this.remember(this.fallback.pickNode(request, candidates));
    if (this.inFlight.length < n) [this.cachedTokens, this.inFlight] = [new Float64Array(n * 2), new Float64Array(n * 2)];
    const blocks = request.promptBlocks ?? [];
    for (let i = 0; i < n; i++) {
      const { nodeId } = candidates[i];
      this.cachedTokens[i] = blocks.length === 0 ? 0 : this.index.cachedBlocks(nodeId, request.model, blocks) * PROMPT_BLOCK_TOKENS;
      this.inFlight[i] = this.routed.get(nodeId);
    }
    const { features } = this.wasm.buffers(n);
    candidateFeatures(candidates, { promptTokens: request.promptTokens ?? 0, cachedTokens: this.cachedTokens, inFlight: this.inFlight }, features);
    this.wasm.scoreInPlace(n);
    return this.remember(candidates[this.wasm.bestOf(0, n)]);
  }

  private remember(pick: Candidate | undefined): Candidate | undefined {
    this.picked = pick && { nodeId: pick.nodeId, slots: pick.load.slots };
    return pick;
  }

  started(nodeId: string, request: RouteRequest): void {
    this.routed.started(nodeId);
    this.index.record(nodeId, request.model, request.promptBlocks ?? [], this.picked?.nodeId === nodeId ? this.picked.slots : undefined);
    this.fallback.started?.(nodeId, request);
  }

  finished(nodeId: string, request: RouteRequest, outcome: RouteOutcome): void {
    this.routed.finished(nodeId);
    this.fallback.finished?.(nodeId, request, outcome);
  }
}

export interface AdaptiveInit {
  /** scheduler.load_balancing: the policy while some candidate has no load figures. */
  load_balancing?: string;
  options?: unknown;
}

export function adaptive(init: AdaptiveInit = {}, params: Partial<ScoreParams> = {}) {
  const policy = init.load_balancing ?? 'least_connections';
  if (!Object.hasOwn(FALLBACKS, policy)) {
    throw new ProductError('OD_ERR_CONFIG', `scheduler.load_balancing = ${JSON.stringify(policy)}: must be one of ${Object.keys(FALLBACKS).join(', ')}`);
  }
  const fallbackPolicy = policy as FallbackPolicy;
  return (): Balancer => new Adaptive(FALLBACKS[fallbackPolicy]()(), fallbackPolicy, params);
}

export default adaptive;
