// Desired replicas through the cluster API: POST /api/v1/models/replicas sets how many nodes
// should hold a model (agreed through consensus; the placement loop places them), and GET lists
// each model's desired replicas, its placements and the nodes holding a verified copy.

import type { ClusterState } from '../../cluster/state-machine.js';
import type { ClusterView } from '../../cluster/types.js';
import { ProductError, badRequest, modelNotFound } from '../../errors.js';
import { formatModelName } from '../../models/name.js';
import { clientSignal } from '../client-abort.js';
import type { RouteModule } from '../server.js';
import { modelName } from '../ollama/model-ref.js';
import { requestFields } from '../ollama/body.js';

/** The state machine's own bound on a count. */
export const MAX_REPLICAS = 1000;

/** The digest the cluster knows `name` by: agreed in consensus, else the newest one a member holds. */
function knownDigest(state: ClusterState, view: ClusterView, name: string): string | undefined {
  const agreed = state.models[name]?.digest;
  if (agreed) return agreed;
  const holder = view.holders(name)[0];
  return holder?.models.find((m) => m.name.toLowerCase() === name.toLowerCase())?.digest;
}

export function replicaEntries(state: ClusterState) {
  return Object.values(state.models)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((model) => ({
      model: model.name,
      digest: model.digest,
      replicas: model.replicas,
      placements: state.placements[model.name] ?? [],
      present: state.replicas[model.name] ?? [],
    }));
}

export const replicaRoutes: RouteModule = (app, deps) => {
  app.get('/api/v1/models/replicas', { config: { permission: 'read' } }, async () => ({ models: replicaEntries(deps.consensus.state().state) }));

  app.post('/api/v1/models/replicas', { config: { permission: 'admin' } }, async (request, reply) => {
    const signal = clientSignal(reply);
    const fields = requestFields(request.body, 'ReplicasRequest');
    const input = (fields.string('model') ?? '').trim();
    if (input === '') throw badRequest('model is required');
    const replicas = fields.raw('replicas');
    if (!Number.isSafeInteger(replicas) || (replicas as number) < 1 || (replicas as number) > MAX_REPLICAS) {
      throw badRequest(`replicas must be an integer from 1 to ${MAX_REPLICAS}`);
    }
    const name = formatModelName(modelName(input));
    const state = (await deps.consensus.read(signal)) as ClusterState;
    const digest = knownDigest(state, deps.cluster, name);
    if (!digest) throw modelNotFound(input);
    const { result } = await deps.consensus.propose({ type: 'model.set', payload: { name, digest, replicas } }, signal);
    if (result && typeof result === 'object' && 'error' in result) throw new ProductError('OD_ERR_CONFLICT', String(result.error));
    return { model: name, replicas };
  });
};
