// POST /v1/embeddings: embeds a string or a list of strings through the scheduler; `dimensions`
// keeps the leading components and renormalizes, `encoding_format: base64` packs float32s.

import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { MODEL_WORDING } from '../ollama/model-ref.js';
import { resolveTarget } from '../ollama/inference.js';
import { dispatchOnce, requestDispatch } from '../dispatch.js';
import { embeddingDimensions, embeddingInput, encodingFormat, optionalString, requestBody } from './request.js';
import { base64Floats, embeddingList } from './response.js';
import { clientSignal } from '../client-abort.js';

/** Unit length, as Ollama returns every embedding. */
function normalize(vector: number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? vector : vector.map((x) => x / norm);
}

export function embeddingsRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/embeddings', { config: { permission: 'inference' } }, async (request, reply) => {
    const body = requestBody(request.body);
    const format = encodingFormat(body);
    const input = embeddingInput(body);
    const dimensions = embeddingDimensions(body);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const { spec: model } = await resolveTarget(deps, optionalString(body, 'model'), signal, MODEL_WORDING.embed);
    const result = await dispatchOnce(dispatch, { model: model.name, kind: 'embed' }, () =>
      deps.engine.embed({ model, input, truncate: true, options: {}, keepAliveMs: deps.config.engine.keep_alive, signal }),
    );
    const vectors = result.embeddings.map((vector) =>
      dimensions !== undefined && dimensions < vector.length ? normalize(vector.slice(0, dimensions)) : vector,
    );
    return embeddingList(body.model as string, format === 'base64' ? vectors.map(base64Floats) : vectors, result.promptEvalCount);
  });
}
