// GET /v1/models and /v1/models/{model}: the cluster's models (this node's store beside what the
// other members announce) as OpenAI model objects, newest first; owned_by is the name's namespace.

import type { FastifyInstance } from 'fastify';
import type { AnnouncedModel } from '../../cluster/types.js';
import { ProductError } from '../../errors.js';
import { parseModelName } from '../../models/name.js';
import { findModel } from '../../models/spec.js';
import { clusterModels } from '../cluster/model-lists.js';
import type { ApiDeps } from '../deps.js';
import { clusterModelName } from '../forward/cluster-plan.js';
import { taggedModels } from '../ollama/model-list.js';
import { modelObject } from './response.js';

function announcedObject(model: AnnouncedModel, id = model.name) {
  return { id, object: 'model', created: Math.floor(Date.parse(model.modified_at) / 1000), owned_by: parseModelName(model.name).namespace };
}

export function modelsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/models', { config: { permission: 'read' } }, async () => {
    const models = clusterModels(await taggedModels(deps.store), deps.cluster.members());
    return { object: 'list', data: models.map((model) => announcedObject(model)) };
  });

  // A wildcard, so namespaced names (`me/tiny:latest`) need no URL escaping.
  app.get('/models/*', { config: { permission: 'read' } }, async (request) => {
    const name = (request.params as { '*': string })['*'];
    try {
      return modelObject(await findModel(deps.store, name), name);
    } catch (error) {
      const wanted = clusterModelName(name);
      const elsewhere = wanted && clusterModels([], deps.cluster.members()).find((m) => m.name.toLowerCase() === wanted.toLowerCase());
      if (!elsewhere || (error as ProductError).code !== 'OD_ERR_MODEL_NOT_FOUND') throw error;
      return announcedObject(elsewhere, name);
    }
  });
}
