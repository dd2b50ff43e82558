// Round robin: each request goes to the next candidate in turn. Predictable and fair when nodes
// are alike; the seed's default for small clusters.

import type { Balancer, Candidate, RouteRequest } from '../../core/contracts/balancer.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';

export const meta = { name: 'round_robin', kind: 'balancer', provides: ['balancer'], requires: [] } as const satisfies PluginMeta;

class RoundRobin implements Balancer {
  readonly name = meta.name;
  private next = 0;

  pickNode(_request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined {
    if (candidates.length === 0) return undefined;
    const pick = candidates[this.next % candidates.length];
    this.next = (this.next + 1) % Number.MAX_SAFE_INTEGER;
    return pick;
  }
}

export function roundRobin(_init?: unknown) {
  return (): Balancer => new RoundRobin();
}

export default roundRobin;
