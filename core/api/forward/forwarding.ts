// Forwarding as a part of the API server: the forwarder p2p.forward picks, each forward signed
// with the cluster key and each one received checked, the cluster step on every route, forwarded
// requests taken from libp2p streams, and connections dropped to nodes that leave the cluster.

import type { Server } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { resolveClusterKey } from '../../cluster/cluster-key.js';
import type { AsyncSeriesHook } from '../../kernel/hooks.js';
import type { ApiDeps } from '../deps.js';
import { clusterHook } from './cluster-hook.js';
import { FORWARD_PROOF_HEADER, forwardProof, proofProblem } from './forward-proof.js';
import type { Forwarder } from './forwarder.js';
import { FORWARDED_HEADER } from './headers.js';
import { acceptForwardStreams, libp2pForwarder } from './libp2p-forwarder.js';
import { httpForwarder } from './pooled-forwarder.js';
import { rawBodyOf } from './raw-body.js';
import { clientTrust } from '../../security/tls-material.js';

/** Each forward carries a proof made with the cluster key, when there is one. */
function signed(inner: Forwarder, key: Promise<Uint8Array | undefined>): Forwarder {
  return {
    async send(target, request, signal) {
      const clusterKey = await key;
      const origin = request.headers[FORWARDED_HEADER];
      if (!clusterKey || typeof origin !== 'string') return inner.send(target, request, signal);
      const proof = forwardProof(clusterKey, { origin, method: request.method, path: request.path, body: request.body }, Date.now());
      return inner.send(target, { ...request, headers: { ...request.headers, [FORWARD_PROOF_HEADER]: proof } }, signal);
    },
    retain: (nodeIds) => inner.retain(nodeIds),
    close: () => inner.close(),
  };
}

export class Forwarding {
  private readonly forwarder: Forwarder;
  private readonly undo: (() => void)[] = [];
  /** A bad key file fails the transport at start; here it fails the forwards that need it. */
  private readonly clusterKey: Promise<Uint8Array | undefined>;

  constructor(private readonly deps: ApiDeps) {
    this.clusterKey = resolveClusterKey(deps.config.p2p.cluster_key);
    this.clusterKey.catch(() => undefined);
    this.forwarder = signed(deps.config.p2p.forward === 'libp2p' ? libp2pForwarder(deps.transport) : httpForwarder(clientTrust(deps.tls)), this.clusterKey);
  }

  register(app: FastifyInstance, beforeForward: AsyncSeriesHook<[FastifyRequest, string]>): void {
    app.addHook('preHandler', (request, reply) => this.checkForwarded(request, reply));
    app.addHook('preHandler', clusterHook({ ...this.deps, forwarder: this.forwarder, beforeForward }));
  }

  /** A request marked as forwarded skips routing here: in a keyed cluster only a member may send one. */
  private async checkForwarded(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const origin = request.headers[FORWARDED_HEADER];
    if (origin === undefined) return undefined;
    const key = await this.clusterKey;
    if (!key) return undefined;
    const problem =
      typeof origin !== 'string' || !this.deps.cluster.member(origin)
        ? 'it names no member of this cluster'
        : proofProblem(key, request.headers[FORWARD_PROOF_HEADER], { origin, method: request.method, path: request.raw.url ?? request.url, body: rawBodyOf(request) }, Date.now());
    if (!problem) return undefined;
    this.deps.logger.warn({ origin: String(origin).slice(0, 128), remote: request.ip, path: request.url, problem }, 'forwarded request refused');
    return reply.code(403).send({ error: `forwarded request refused: ${problem}` });
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
