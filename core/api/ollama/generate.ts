// POST /api/generate: a completion for one prompt, with the model's thinking apart, streamed as
// NDJSON or returned whole; an empty prompt only loads the model, or unloads it when keep_alive is 0.

import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../errors.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';
import { dispatchStream, requestDispatch } from '../dispatch.js';
import { continuationOf } from '../forward/continuation.js';
import { FORWARDED_HEADER } from '../forward/headers.js';
import { requestFields } from './body.js';
import { loadModel, requireCapabilities, resolveTarget, unloadModel } from './inference.js';
import { parseContext, parseFormat, parseImages, parseThink, parseLogprobs } from './inputs.js';
import { keepAliveMs } from './keep-alive.js';
import { MODEL_WORDING } from './model-ref.js';
import { parseOptions } from './options.js';
import { logprobsField, sendRun, type ResponseShape, type RunOutput } from './run-response.js';
import { createdAt, startClock } from './time.js';

function parseGenerate(body: unknown, defaultKeepAliveMs: number, forwarded: boolean) {
  const fields = requestFields(body, 'GenerateRequest');
  const keepAliveRaw = fields.raw('keep_alive');
  return {
    model: fields.string('model'),
    prompt: fields.string('prompt') ?? '',
    suffix: fields.string('suffix') || undefined,
    system: fields.string('system') || undefined,
    template: fields.string('template') || undefined,
    context: parseContext(fields),
    stream: fields.boolean('stream') ?? true,
    raw: fields.boolean('raw') ?? false,
    format: parseFormat(fields.raw('format')),
    images: parseImages(fields),
    options: parseOptions(fields.object('options')),
    keepAliveMs: keepAliveMs(keepAliveRaw, defaultKeepAliveMs),
    keepAliveGiven: keepAliveRaw !== undefined,
    think: parseThink(fields.raw('think')),
    logprobs: parseLogprobs(fields),
    continueFrom: continuationOf(body, forwarded),
  };
}

export function generateRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/api/generate', { config: { permission: 'inference' } }, async (request, reply) => {
    const started = startClock();
    const req = parseGenerate(request.body, deps.config.engine.keep_alive, request.headers[FORWARDED_HEADER] !== undefined);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const target = await resolveTarget(deps, req.model, signal, MODEL_WORDING.generate);
    const model = target.input;

    if (req.prompt === '' && req.keepAliveGiven && req.keepAliveMs === 0) {
      await unloadModel(deps, target, signal);
      return { model, created_at: createdAt(), response: '', done: true, done_reason: 'unload' };
    }
    if (req.raw && (req.template || req.system || req.context?.length)) {
      throw badRequest('raw mode does not support template, system, or context');
    }
    const think = await requireCapabilities(deps, target, 'generate', req.suffix ? ['insert'] : [], req.think);
    if (req.prompt === '') {
      await loadModel(deps, dispatch, target, 'generate', req.keepAliveMs, signal);
      return { model, created_at: createdAt(), response: '', done: true, done_reason: 'load' };
    }

    const events = dispatchStream(dispatch, { model: target.spec.name, kind: 'generate' }, target.spec.modelSize, () =>
      deps.engine.generate({
        model: target.spec,
        prompt: req.prompt,
        raw: req.raw,
        options: req.options,
        keepAliveMs: req.keepAliveMs,
        signal,
        ...(req.suffix ? { suffix: req.suffix } : {}),
        ...(req.system ? { system: req.system } : {}),
        ...(req.template ? { template: req.template } : {}),
        ...(req.format ? { format: req.format } : {}),
        ...(req.images?.length ? { images: req.images } : {}),
        ...(req.context?.length ? { context: req.context } : {}),
        ...(think !== undefined ? { think } : {}),
        ...(req.logprobs ? { logprobs: req.logprobs } : {}),
        ...(req.continueFrom !== undefined ? { continueFrom: req.continueFrom } : {}),
      }),
    );
    /** Ollama's GenerateResponse: empty thinking and tool calls are left out. */
    const output = ({ content, thinking, toolCalls }: RunOutput) => ({
      response: content,
      ...(thinking ? { thinking } : {}),
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    });
    const shape: ResponseShape = {
      chunk: (out) => ({ model, created_at: createdAt(), ...output(out), done: false, ...logprobsField(out) }),
      final: (done, out, metrics) => ({
        model,
        created_at: createdAt(),
        ...output(out),
        done: true,
        done_reason: done.doneReason,
        ...(done.context && !req.raw ? { context: done.context } : {}),
        ...logprobsField(out),
        ...metrics,
      }),
    };
    return sendRun(deps, reply, events, shape, { stream: req.stream, started });
  });
}
