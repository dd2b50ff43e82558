// POST /api/embed (input string or list, normalized vectors, optional dimensions) and the legacy
// POST /api/embeddings (one prompt, one vector). An empty input only loads the model.

import type { FastifyInstance } from 'fastify';
import type { ModelOptions } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';
import { dispatchOnce, requestDispatch, type Dispatch } from '../dispatch.js';
import { requestFields } from './body.js';
import { loadModel, resolveTarget, type Target } from './inference.js';
import { keepAliveMs } from './keep-alive.js';
import { MODEL_WORDING } from './model-ref.js';
import { parseOptions } from './options.js';
import { withoutZeros } from './run-response.js';
import { nanosSince, startClock } from './time.js';

function parseInput(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  throw badRequest('invalid input type');
}

/** Unit length, as Ollama returns every /api/embed vector. */
function normalize(vector: number[]): number[] {
  let sum = 0;
  for (const v of vector) {
    if (!Number.isFinite(v)) throw badRequest('embedding contains NaN or Inf values');
    sum += v * v;
  }
  const scale = 1 / Math.max(Math.sqrt(sum), 1e-12);
  return vector.map((v) => v * scale);
}

/** Cut to `dimensions` and normalized again, when that is shorter than the model's vectors. */
function fitted(vector: number[], dimensions: number): number[] {
  const unit = normalize(vector);
  return dimensions > 0 && dimensions < unit.length ? normalize(unit.slice(0, dimensions)) : unit;
}

interface EmbedRun {
  input: string[];
  truncate: boolean;
  options: ModelOptions;
  keepAliveMs: number;
  signal: AbortSignal;
}

function embed(deps: ApiDeps, dispatch: Dispatch, target: Target, run: EmbedRun) {
  return dispatchOnce(dispatch, { model: target.spec.name, kind: 'embed' }, () => deps.engine.embed({ model: target.spec, ...run }));
}

export function embedRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/api/embed', { config: { permission: 'inference' } }, async (request, reply) => {
    const started = startClock();
    const fields = requestFields(request.body, 'EmbedRequest');
    const input = parseInput(fields.raw('input'));
    const truncate = fields.boolean('truncate') ?? true;
    const dimensions = fields.integer('dimensions') ?? 0;
    const options = parseOptions(fields.object('options'));
    const keepAlive = keepAliveMs(fields.raw('keep_alive'), deps.config.engine.keep_alive);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const target = await resolveTarget(deps, fields.string('model'), signal, MODEL_WORDING.embed);
    if (input.length === 0) {
      await loadModel(deps, dispatch, target, 'embed', keepAlive, signal);
      return { model: target.input, embeddings: [] };
    }
    const result = await embed(deps, dispatch, target, { input, truncate, options, keepAliveMs: keepAlive, signal });
    return {
      model: target.input,
      embeddings: result.embeddings.map((vector) => fitted(vector, dimensions)),
      ...withoutZeros({
        total_duration: nanosSince(started),
        load_duration: Math.round(result.loadDuration),
        prompt_eval_count: result.promptEvalCount,
      }),
    };
  });

  app.post('/api/embeddings', { config: { permission: 'inference' } }, async (request, reply) => {
    const fields = requestFields(request.body, 'EmbeddingRequest');
    const prompt = fields.string('prompt') ?? '';
    const options = parseOptions(fields.object('options'));
    const keepAlive = keepAliveMs(fields.raw('keep_alive'), deps.config.engine.keep_alive);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const target = await resolveTarget(deps, fields.string('model'), signal, MODEL_WORDING.embeddings);
    if (prompt === '') {
      await loadModel(deps, dispatch, target, 'embed', keepAlive, signal);
      return { embedding: [] };
    }
    const result = await embed(deps, dispatch, target, { input: [prompt], truncate: true, options, keepAliveMs: keepAlive, signal });
    return { embedding: result.embeddings[0] ?? [] };
  });
}
