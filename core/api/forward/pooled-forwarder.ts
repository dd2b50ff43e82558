// What both forwarders share: one undici keep-alive pool per target node, replaced when the node's
// address changes, destroyed when the node leaves the cluster (failing what still waits on it) and
// when this node stops.

import { Pool } from 'undici';
import type { Member } from '../../cluster/types.js';
import type { Forwarder, OutgoingRequest, UpstreamResponse } from './forwarder.js';

/**
 * No timeouts of undici's own: a request not streamed answers only when the whole run is done,
 * however long that takes, and a target that dies without closing its connections leaves the view
 * within p2p.failure_timeout, which destroys its pool.
 */
export const POOL_OPTIONS = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 60_000 } as const;

export interface PoolDialer {
  /** Where `target` is reached; a change opens a new pool. */
  address(target: Member): string;
  open(target: Member): Pool;
}

export class PooledForwarder implements Forwarder {
  private readonly pools = new Map<string, { address: string; pool: Pool }>();

  constructor(private readonly dialer: PoolDialer) {}

  private poolFor(target: Member): Pool {
    const address = this.dialer.address(target);
    const held = this.pools.get(target.id);
    if (held?.address === address) return held.pool;
    if (held) void held.pool.close();
    const pool = this.dialer.open(target);
    this.pools.set(target.id, { address, pool });
    return pool;
  }

  async send(target: Member, request: OutgoingRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    const response = await this.poolFor(target).request({
      method: request.method as 'POST',
      path: request.path,
      headers: request.headers as Record<string, string>,
      body: request.body ?? null,
      signal,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  retain(nodeIds: ReadonlySet<string>): void {
    for (const [nodeId, held] of this.pools) {
      if (nodeIds.has(nodeId)) continue;
      this.pools.delete(nodeId);
      void held.pool.destroy(new Error(`node ${nodeId} left the cluster`)).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map(({ pool }) => pool.destroy()));
  }
}

/** Forwarding over HTTP to each node's API URL; an https one is trusted when `trust.ca` (the cluster CA) signed it. */
export function httpForwarder(trust: { ca?: Buffer } = {}): Forwarder {
  const connect = trust.ca ? { connect: { ca: trust.ca } } : {};
  return new PooledForwarder({ address: (target) => target.apiUrl, open: (target) => new Pool(target.apiUrl, { ...POOL_OPTIONS, ...connect }) });
}
