// Requests this node routed and not yet finished, per target node: gossiped load is up to a second
// old, so balancers count their own recent picks on top. Entries go at 0, so it stays small.

export class RoutedRequests {
  private readonly counts = new Map<string, number>();

  started(nodeId: string): void {
    this.counts.set(nodeId, (this.counts.get(nodeId) ?? 0) + 1);
  }

  finished(nodeId: string): void {
    const count = (this.counts.get(nodeId) ?? 1) - 1;
    if (count > 0) this.counts.set(nodeId, count);
    else this.counts.delete(nodeId);
  }

  get(nodeId: string): number {
    return this.counts.get(nodeId) ?? 0;
  }

  /** Requests running or queued on the candidate: its gossip, or this node's count when higher. */
  load(candidate: { nodeId: string; load: { activeRequests: number; queueDepth: number } }): number {
    const figure = (value: number) => (Number.isFinite(value) && value > 0 ? value : 0);
    return Math.max(figure(candidate.load.activeRequests) + figure(candidate.load.queueDepth), this.get(candidate.nodeId));
  }
}
