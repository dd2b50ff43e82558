// POST /v1/completions: runs engine.generate through the scheduler with the model's template
// (raw=false, as Ollama does) and answers with a text_completion object or SSE chunks.

import type { FastifyInstance } from 'fastify';
import type { RunEvent, RunStats } from '../../contracts/engine.js';
import type { ApiDeps } from '../deps.js';
import { MODEL_WORDING } from '../ollama/model-ref.js';
import { resolveTarget } from '../ollama/inference.js';
import { dispatchStream, requestDispatch } from '../dispatch.js';
import { continuationOf } from '../forward/continuation.js';
import { FORWARDED_HEADER } from '../forward/headers.js';
import { checkTopLogprobs, completionOptions, completionPrompt, includeUsage, optionalInteger, optionalString, requestBody, streamRequested } from './request.js';
import { completion, completionUsageChunk, envelope, finishReason, usageOf, type Usage } from './response.js';
import { clientSignal } from '../client-abort.js';
import { streamEvents } from './run.js';

export function completionsRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/completions', { config: { permission: 'inference' } }, async (request, reply) => {
    const body = requestBody(request.body);
    const prompt = completionPrompt(body);
    const suffix = optionalString(body, 'suffix');
    const continueFrom = continuationOf(body, request.headers[FORWARDED_HEADER] !== undefined);
    const options = completionOptions(body);
    // A completion's `logprobs` is the number of alternatives; Ollama passes on only a positive one.
    const logprobs = optionalInteger(body, 'logprobs');
    checkTopLogprobs(logprobs !== undefined && logprobs > 0 ? logprobs : undefined);
    const stream = streamRequested(body);
    const usageWanted = includeUsage(body);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const { spec: model } = await resolveTarget(deps, optionalString(body, 'model'), signal, MODEL_WORDING.generate);
    const events = dispatchStream(dispatch, { model: model.name, kind: 'generate' }, model.modelSize, () =>
      deps.engine.generate({
        model,
        prompt,
        ...(suffix ? { suffix } : {}),
        ...(continueFrom !== undefined ? { continueFrom } : {}),
        raw: false,
        options,
        keepAliveMs: deps.config.engine.keep_alive,
        signal,
      }),
    );
    const env = envelope('cmpl', body.model as string);

    if (stream) {
      let usage: Usage | undefined;
      const frames = (event: RunEvent) => {
        if (event.type === 'token') return [completion(env, event.text, null)];
        if (event.type === 'done') {
          usage = usageOf(event);
          return [completion(env, '', finishReason(event.doneReason, false))];
        }
        return [];
      };
      const closing = () => (usageWanted && usage ? [completionUsageChunk(env, usage)] : []);
      await streamEvents(reply, events, signal, { frames, closing }, deps.logger);
      return reply;
    }

    let text = '';
    let done: RunStats | undefined;
    for await (const event of events) {
      if (event.type === 'token') text += event.text;
      else if (event.type === 'done') done = event;
    }
    if (!done) throw new Error('the engine ended the run without a done event');
    return completion(env, text, finishReason(done.doneReason, false), usageOf(done));
  });
}
