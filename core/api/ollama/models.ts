// The model list and housekeeping: GET|HEAD /api/tags, GET /api/ps, POST /api/copy and
// DELETE /api/delete, answered in Ollama's shapes and with its errors.

import type { FastifyInstance } from 'fastify';
import { ProductError, badRequest, modelNotFound } from '../../errors.js';
import { clusterModels, clusterRunning } from '../cluster/model-lists.js';
import type { ApiDeps } from '../deps.js';
import { requestFields } from './body.js';
import { goQuote } from './go-format.js';
import { modelName } from './model-ref.js';
import { runningModels, taggedModels } from './model-list.js';

export function modelRoutes(app: FastifyInstance, deps: ApiDeps): void {
  // The whole cluster's: this node's store beside what the other members announce.
  app.get('/api/tags', { config: { permission: 'read' }, exposeHeadRoute: true }, async () => ({
    models: clusterModels(await taggedModels(deps.store), deps.cluster.members()),
  }));

  // Ollama serves GET only here, unlike /api/tags.
  app.get('/api/ps', { config: { permission: 'read' }, exposeHeadRoute: false }, async () => ({
    models: clusterRunning(runningModels(deps.engine), deps.config.node.name, deps.cluster.members()),
  }));

  app.post('/api/copy', { config: { permission: 'write' } }, async (request, reply) => {
    const fields = requestFields(request.body, 'CopyRequest');
    const source = fields.string('source') ?? '';
    const destination = fields.string('destination') ?? '';
    const from = modelName(source, `source ${goQuote(source)} is invalid`);
    const to = modelName(destination, `destination ${goQuote(destination)} is invalid`);
    if (!(await deps.store.getModel(from))) throw new ProductError('OD_ERR_MODEL_NOT_FOUND', `model ${goQuote(source)} not found`);
    await deps.store.copyModel(from, to);
    return reply.code(200).send();
  });

  app.delete('/api/delete', { config: { permission: 'write' } }, async (request, reply) => {
    const fields = requestFields(request.body, 'DeleteRequest');
    const input = fields.string('model') || fields.string('name') || '';
    if (input.trim() === '') throw badRequest('model is required');
    const name = modelName(input.trim(), `name ${goQuote(input)} is invalid`);
    if (!(await deps.store.deleteModel(name))) throw modelNotFound(input);
    return reply.code(200).send();
  });
}
