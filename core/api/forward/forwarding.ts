// Forwarding as a part of the API server: the forwarder p2p.forward picks, the cluster step on
// every route, forwarded requests taken from libp2p streams, and connections dropped to nodes
// that leave the cluster.

import type { Server } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AsyncSeriesHook } from '../../kernel/hooks.js';
import type { ApiDeps } from '../deps.js';
import { clusterHook } from './cluster-hook.js';
import type { Forwarder } from './forwarder.js';
import { acceptForwardStreams, libp2pForwarder } from './libp2p-forwarder.js';
import { httpForwarder } from './pooled-forwarder.js';

export class Forwarding {
  private readonly forwarder: Forwarder;
  private readonly undo: (() => void)[] = [];

  constructor(private readonly deps: ApiDeps) {
    this.forwarder = deps.config.p2p.forward === 'libp2p' ? libp2pForwarder(deps.transport) : httpForwarder();
  }

  register(app: FastifyInstance, beforeForward: AsyncSeriesHook<[FastifyRequest, string]>): void {
    app.addHook('preHandler', clusterHook({ ...this.deps, forwarder: this.forwarder, beforeForward }));
  }

  /** Whatever this node forwards with, peers may forward to it over either. */
  start(server: Server): void {
    const { cluster, transport } = this.deps;
    this.undo.push(acceptForwardStreams(transport, server));
    this.undo.push(cluster.onChange(() => this.forwarder.retain(new Set(cluster.members().filter((m) => m.healthy).map((m) => m.id)))));
  }

  async stop(): Promise<void> {
    for (const undo of this.undo.splice(0)) undo();
    await this.forwarder.close();
  }
}
