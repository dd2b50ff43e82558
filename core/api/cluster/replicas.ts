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

/** The name and digest the cluster knows `name` by: agreed in consensus, else the newest copy a member holds. */
function knownModel(state: ClusterState, view: ClusterView, name: string): { name: string; digest: string } | undefined {
  const wanted = name.toLowerCase();
  const agreed = Object.values(state.models).find((m) => m.name.toLowerCase() === wanted);
  if (agreed) return agreed;
  const held = view.holders(name)[0]?.models.find((m) => m.name.toLowerCase() === wanted);
  return held && { name: held.name, digest: held.digest };
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
    const state = (await deps.consensus.read(signal)) as ClusterState;
    const known = knownModel(state, deps.cluster, formatModelName(modelName(input)));
    if (!known) throw modelNotFound(input);
    const { name, digest } = known;
    const { result } = await deps.consensus.propose({ type: 'model.set', payload: { name, digest, replicas } }, signal);
    if (result && typeof result === 'object' && 'error' in result) throw new ProductError('OD_ERR_CONFLICT', String(result.error));
    return { model: name, replicas };
  });
};
