// Model copies between nodes on the cluster API: GET /api/v1/transfers lists what this node copies
// from its peers, POST /api/v1/models/copy {"model": NAME} starts copying a model here.

import type { FastifyInstance } from 'fastify';
import { ProductError } from '../../errors.js';
import { formatModelName } from '../../models/name.js';
import type { ApiDeps } from '../deps.js';
import { requestFields } from '../ollama/body.js';
import { goQuote } from '../ollama/go-format.js';
import { modelName } from '../ollama/model-ref.js';

export function transferRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { distribution, logger } = deps;

  app.get('/api/v1/transfers', { config: { permission: 'read' } }, async () => ({ transfers: distribution.transfers.entries() }));

  // Answers once the copy is under way; its progress is in GET /api/v1/transfers.
  app.post('/api/v1/models/copy', { config: { permission: 'write' } }, async (request, reply) => {
    const fields = requestFields(request.body, 'CopyModelRequest');
    const input = (fields.string('model') ?? '').trim();
    if (input === '') throw new ProductError('OD_ERR_BAD_REQUEST', 'model is required');
    const name = formatModelName(modelName(input, `model ${goQuote(input)} is invalid`));
    if (distribution.copier.modelHolders(name).length === 0) throw new ProductError('OD_ERR_MODEL_NOT_FOUND', `no other node holds model ${goQuote(input)}`);
    distribution.copier.copy(name).catch((error: unknown) => logger.warn({ model: name, err: error }, 'model copy failed'));
    return reply.code(202).send({ model: name, status: 'copying' });
  });
}
