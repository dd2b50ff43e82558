// The model list and housekeeping: GET|HEAD /api/tags, GET /api/ps, POST /api/copy and
// DELETE /api/delete, answered in Ollama's shapes and with its errors.

import type { FastifyInstance } from 'fastify';
import type { LoadedModel } from '../../contracts/engine.js';
import { ProductError, badRequest, modelNotFound } from '../../errors.js';
import { formatModelName } from '../../models/name.js';
import { modelDetails } from '../../models/spec.js';
import type { ApiDeps } from '../deps.js';
import { requestFields } from './body.js';
import { goQuote } from './go-format.js';
import { hexDigest, modelName } from './model-ref.js';
import { timestamp } from './time.js';

/** Ollama reports a model kept forever (keep_alive < 0) as expiring this far ahead. */
const NEVER_MS = 292 * 365.25 * 24 * 3_600_000;

function expiresAt(model: LoadedModel): Date {
  const at = model.expiresAt.getTime();
  return Number.isFinite(at) ? model.expiresAt : new Date(Date.now() + NEVER_MS);
}

export function modelRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/api/tags', { config: { permission: 'read' }, exposeHeadRoute: true }, async () => {
    const stored = await deps.store.listModels();
    stored.sort((a, b) => b.modifiedAt.getTime() - a.modifiedAt.getTime());
    const models = await Promise.all(
      stored.map(async (model) => {
        const name = formatModelName(model.name);
        return {
          name,
          model: name,
          modified_at: timestamp(model.modifiedAt),
          size: model.size,
          digest: hexDigest(model.digest),
          details: await modelDetails(deps.store, model),
        };
      }),
    );
    return { models };
  });

  // Ollama serves GET only here, unlike /api/tags.
  app.get('/api/ps', { config: { permission: 'read' }, exposeHeadRoute: false }, async () => {
    const loaded = deps.engine.loaded().map((model) => ({ model, expires: expiresAt(model) }));
    loaded.sort((a, b) => b.expires.getTime() - a.expires.getTime());
    return {
      models: loaded.map(({ model, expires }) => ({
        name: model.name,
        model: model.name,
        size: model.size,
        digest: hexDigest(model.digest),
        details: model.details,
        expires_at: timestamp(expires),
        size_vram: model.sizeVram,
        context_length: model.contextLength,
      })),
    };
  });

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
