// The cluster API on the API port: GET /api/v1/cluster/status, GET /api/v1/nodes and
// /api/v1/nodes/:id (a node id or name), POST /api/v1/nodes/:id/drain and /undrain. A drain of
// another node reaches it through the cluster step, which forwards it there; DELETE
// /api/v1/nodes/:id removes a node for good, on the consensus leader; /api/v1/keys manages API keys.
// Model copies between nodes are in transfers.ts.

import type { FastifyInstance } from 'fastify';
import type { ClusterView, Member } from '../../cluster/types.js';
import { removalLosesQuorum } from '../../cluster/voters.js';
import { ProductError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';
import type { RouteModule } from '../server.js';
import { keyRoutes } from './keys.js';
import { clusterStatus, nodeEntry, queueEntry } from './status.js';
import { transferRoutes } from './transfers.js';

export const nodeNotFound = (id: string) => new ProductError('OD_ERR_NODE_NOT_FOUND', `node '${id}' not found`);

function memberNamed(view: ClusterView, id: string): Member {
  const member = view.member(id);
  if (!member) throw nodeNotFound(id);
  return member;
}

function drainRoute(app: FastifyInstance, view: ClusterView, action: 'drain' | 'undrain'): void {
  app.post(`/api/v1/nodes/:id/${action}`, { config: { permission: 'admin' } }, async (request) => {
    const { id } = request.params as { id: string };
    // Another node's drain was forwarded to it before this handler; one that reaches here for another node came forwarded.
    if (!memberNamed(view, id).self) throw new ProductError('OD_ERR_NODE_NOT_FOUND', `node '${id}' is not this node`);
    await view.setDrained(action === 'drain');
    return nodeEntry(view.self());
  });
}

/** Takes a node out of the cluster for good: out of the consensus configuration, and never admitted again. */
function removeRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.delete('/api/v1/nodes/:id', { config: { permission: 'admin' } }, async (request) => {
    const { id } = request.params as { id: string };
    const { consensus, cluster, nodeId } = deps;
    const leader = consensus.leader();
    if (leader?.id !== nodeId) throw new ProductError('OD_ERR_NOT_LEADER', leader ? `node removal goes to the leader ${leader.id}, which this node could not reach` : 'no consensus leader is elected; try again shortly');
    const { members, removed } = consensus.state().state;
    const target = cluster.member(id)?.id ?? (consensus.members().some((m) => m.id === id) || members[id] ? id : undefined);
    if (!target) throw removed[id] !== undefined ? new ProductError('OD_ERR_CONFLICT', `node ${id} was removed already`) : nodeNotFound(id);
    if (target === nodeId) throw new ProductError('OD_ERR_CONFLICT', `node '${id}' leads consensus: stop it (leadership moves to another voter), then remove it from another node`);
    const configuration = consensus.members();
    const losesQuorum = removalLosesQuorum(configuration, target, (id) => id === nodeId || cluster.member(id)?.healthy === true);
    if (losesQuorum) throw new ProductError('OD_ERR_CONFLICT', losesQuorum);
    if (configuration.some((m) => m.id === target)) await consensus.removeMember(target);
    const { result } = await consensus.propose({ type: 'member.remove', payload: { id: target } });
    if (result && typeof result === 'object' && 'error' in result) throw new ProductError('OD_ERR_CONFLICT', String(result.error));
    return { removed: target };
  });
}

export const clusterRoutes: RouteModule = (app, deps) => {
  const view = deps.cluster;
  app.get('/api/v1/cluster/status', { config: { permission: 'read' } }, async () => clusterStatus(view, deps.consensus, deps.scheduler.routingStats()));
  app.get('/api/v1/queue', { config: { permission: 'read' } }, async () => queueEntry(deps.config.scheduler.queue_size, deps.scheduler.queue()));
  app.get('/api/v1/nodes', { config: { permission: 'read' } }, async () => ({ nodes: view.members().map(nodeEntry) }));
  app.get('/api/v1/nodes/:id', { config: { permission: 'read' } }, async (request) => nodeEntry(memberNamed(view, (request.params as { id: string }).id)));
  drainRoute(app, view, 'drain');
  drainRoute(app, view, 'undrain');
  removeRoute(app, deps);
  keyRoutes(app, deps);
  transferRoutes(app, deps);
};
