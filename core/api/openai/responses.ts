// POST /v1/responses: the stateless Responses API as Ollama serves it, a chat through the
// scheduler answered with a response object or, with `stream`, typed events ending in response.completed.

import type { FastifyInstance } from 'fastify';
import type { ToolCall } from '../../contracts/engine.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';
import { requestDispatch } from '../dispatch.js';
import { requireCapabilities, resolveTarget } from '../ollama/inference.js';
import { optionalString, requestBody } from './request.js';
import { responsesRequest } from './responses-request.js';
import { ResponsesStream, responseIds, wholeResponse } from './responses-output.js';
import { chatEvents } from './chat-run.js';
import { streamEvents } from './run.js';

export function responsesRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/responses', { config: { permission: 'inference' } }, async (request, reply) => {
    const body = requestBody(request.body);
    const run = responsesRequest(body);
    const signal = clientSignal(reply);
    const model = optionalString(body, 'model') ?? '';
    const target = await resolveTarget(deps, model, signal);
    const think = await requireCapabilities(deps, target, 'chat', run.tools ? ['tools'] : [], run.think);
    const events = chatEvents(deps, requestDispatch(deps, request), target, { ...run, ...(think !== undefined ? { think } : {}) }, signal);
    const ids = responseIds();

    if (run.stream) {
      const stream = new ResponsesStream(ids, model, run.echo);
      await streamEvents(reply, events, signal, { frames: (event) => stream.frames(event), closing: () => [], typed: stream }, deps.logger);
      return reply;
    }

    const createdAt = Math.floor(Date.now() / 1000);
    let text = '';
    let thinking = '';
    const calls: ToolCall[] = [];
    for await (const event of events) {
      if (event.type === 'token') text += event.text;
      else if (event.type === 'thinking') thinking += event.text;
      else if (event.type === 'tool_calls') calls.push(...event.calls);
      else return wholeResponse(ids, model, run.echo, { text, thinking, calls }, event, createdAt);
    }
    throw new Error('the engine ended the run without a done event');
  });
}
