// Which nodes the scheduler keeps out of the pool for a while because forwards to them keep failing
// before any answer: each failure in a row doubles the pause, and when it ends one request probes
// the node; its success puts the node back, its failure pauses it again. Pure: times come in.

export interface CooldownPolicy {
  /** Pause after the first failure, ms. */
  baseMs: number;
  /** Longest pause, ms. */
  maxMs: number;
}

export const DEFAULT_COOLDOWN: Readonly<CooldownPolicy> = Object.freeze({ baseMs: 1000, maxMs: 30_000 });

interface NodeHealth {
  failures: number;
  /** While now < until, the node takes nothing. */
  until: number;
  /** A probe is out: no second request until it ends. */
  probing: boolean;
}

export class Cooldown {
  private readonly nodes = new Map<string, NodeHealth>();

  constructor(private readonly policy: CooldownPolicy = DEFAULT_COOLDOWN) {}

  /** Whether a request may go to the node now; false while it cools down or its probe is out. */
  available(nodeId: string, now: number): boolean {
    const health = this.nodes.get(nodeId);
    return !health || (now >= health.until && !health.probing);
  }

  /** A request goes to the node: after a cooldown it is the probe. */
  routed(nodeId: string): void {
    const health = this.nodes.get(nodeId);
    if (health) health.probing = true;
  }

  failed(nodeId: string, now: number): void {
    const health = this.nodes.get(nodeId) ?? { failures: 0, until: 0, probing: false };
    health.failures += 1;
    health.probing = false;
    health.until = now + Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** Math.min(30, health.failures - 1));
    this.nodes.set(nodeId, health);
  }

  /** The node answered: it is back in the pool. */
  succeeded(nodeId: string): void {
    this.nodes.delete(nodeId);
  }

  /** A request to the node ended without saying whether it works (the client left): the probe may go again. */
  released(nodeId: string): void {
    const health = this.nodes.get(nodeId);
    if (health) health.probing = false;
  }

  /** When the node's pause ends (ms), while it has one. */
  coolingUntil(nodeId: string, now: number): number | undefined {
    const until = this.nodes.get(nodeId)?.until;
    return until !== undefined && until > now ? until : undefined;
  }
}
