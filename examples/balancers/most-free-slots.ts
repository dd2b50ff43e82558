// A complete balancer plugin in TypeScript: the candidate with the most free slots for the model
// wins, the faster generator on a tie. Build it with `npx tsc`, point scheduler.algorithm at the
// .js it makes, and check it with `ollama-distributed conformance balancer --plugin <that .js>`.

import type { Balancer, Candidate, RouteOutcome, RouteRequest } from '../../core/contracts/balancer.js';

export const meta = { name: 'most-free-slots', kind: 'balancer', provides: ['balancer'], requires: [] } as const;

/** scheduler.options of this plugin. */
interface Options {
  /** Free slots a local candidate is credited with, to save a network hop. */
  local_bonus?: number;
}

class MostFreeSlots implements Balancer {
  readonly name = meta.name;
  readonly deterministic = true;
  // The scheduler brings gossiped figures up to date; a balancer used on its own counts its picks.
  private readonly routed = new Map<string, number>();

  constructor(private readonly localBonus: number) {}

  pickNode(_request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined {
    let best: Candidate | undefined;
    let bestFree = -Infinity;
    for (const candidate of candidates) {
      const busy = Math.max(candidate.modelRequests, this.routed.get(candidate.nodeId) ?? 0);
      const free = Math.max(1, candidate.load.slots) - busy + (candidate.local ? this.localBonus : 0);
      if (best === undefined || free > bestFree || (free === bestFree && best && candidate.load.tokensPerSecond > best.load.tokensPerSecond)) {
        [best, bestFree] = [candidate, free];
      }
    }
    return best;
  }

  started(nodeId: string, _request: RouteRequest): void {
    this.routed.set(nodeId, (this.routed.get(nodeId) ?? 0) + 1);
  }

  finished(nodeId: string, _request: RouteRequest, _outcome: RouteOutcome): void {
    const left = (this.routed.get(nodeId) ?? 1) - 1;
    if (left > 0) this.routed.set(nodeId, left);
    else this.routed.delete(nodeId);
  }
}

/** The factory: `init` is the config's scheduler section; its `options` are this plugin's. */
export default function mostFreeSlots(init?: { options?: Options }) {
  const localBonus = init?.options?.local_bonus ?? 0;
  if (typeof localBonus !== 'number' || !Number.isFinite(localBonus)) throw new Error('scheduler.options.local_bonus must be a number');
  return (): Balancer => new MostFreeSlots(localBonus);
}
