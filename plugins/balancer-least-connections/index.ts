// Least connections: the candidate with the fewest running and queued requests wins. Gossiped load
// is up to a second old, so requests this node routed since then are counted on top.

import type { Balancer, Candidate, RouteOutcome, RouteRequest } from '../../core/contracts/balancer.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';

export const meta = { name: 'least_connections', kind: 'balancer', provides: ['balancer'], requires: [] } as const satisfies PluginMeta;

class LeastConnections implements Balancer {
  readonly name = meta.name;
  private readonly inFlight = new Map<string, number>();

  pickNode(_request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined {
    let best: Candidate | undefined;
    let bestLoad = Infinity;
    for (const candidate of candidates) {
      const load = Math.max(candidate.load.activeRequests + candidate.load.queueDepth, this.inFlight.get(candidate.nodeId) ?? 0);
      if (load < bestLoad) [best, bestLoad] = [candidate, load];
    }
    return best;
  }

  started(nodeId: string, _request: RouteRequest): void {
    this.inFlight.set(nodeId, (this.inFlight.get(nodeId) ?? 0) + 1);
  }

  finished(nodeId: string, _request: RouteRequest, _outcome: RouteOutcome): void {
    const count = (this.inFlight.get(nodeId) ?? 1) - 1;
    if (count > 0) this.inFlight.set(nodeId, count);
    else this.inFlight.delete(nodeId);
  }
}

export function leastConnections(_init?: unknown) {
  return (): Balancer => new LeastConnections();
}

export default leastConnections;
