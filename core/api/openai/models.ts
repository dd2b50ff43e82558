// GET /v1/models and /v1/models/{model}: the models in this node's store as OpenAI model objects,
// newest first; owned_by is the name's namespace ('library' for plain names).

import type { FastifyInstance } from 'fastify';
import { findModel } from '../../models/spec.js';
import type { ApiDeps } from '../deps.js';
import { modelObject } from './response.js';

export function modelsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/models', { config: { permission: 'read' } }, async () => {
    const models = await deps.store.listModels();
    models.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime());
    return { object: 'list', data: models.map((model) => modelObject(model)) };
  });

  // A wildcard, so namespaced names (`me/tiny:latest`) need no URL escaping.
  app.get('/models/*', { config: { permission: 'read' } }, async (request) => {
    const name = (request.params as { '*': string })['*'];
    return modelObject(await findModel(deps.store, name), name);
  });
}
