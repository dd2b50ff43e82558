// Random: a uniformly random candidate. Needs no shared state, so it spreads load well when many
// nodes route at once without seeing each other's choices.

import type { Balancer, Candidate, RouteRequest } from '../../core/contracts/balancer.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';

export const meta = { name: 'random', kind: 'balancer', provides: ['balancer'], requires: [] } as const satisfies PluginMeta;

export function random(_init?: unknown) {
  return (): Balancer => ({
    name: meta.name,
    pickNode: (_request: RouteRequest, candidates: readonly Candidate[]) =>
      candidates.length === 0 ? undefined : candidates[Math.floor(Math.random() * candidates.length)],
  });
}

export default random;
