// POST /v1/chat/completions: runs engine.chat through the scheduler and answers with a
// chat.completion object, or with chat.completion.chunk events when `stream` is set.

import type { FastifyInstance } from 'fastify';
import type { RunStats } from '../../contracts/engine.js';
import type { ApiDeps } from '../deps.js';
import { MODEL_WORDING } from '../ollama/model-ref.js';
import { requireCapabilities, resolveTarget } from '../ollama/inference.js';
import { dispatchStream, requestDispatch } from '../dispatch.js';
import { identifyToolCalls, type IdentifiedRunEvent } from '../tool-call-ids.js';
import { apiLogprobs, type ApiLogprob } from '../ollama/run-response.js';
import {
  chatLogprobs,
  chatMessages,
  chatOptions,
  chatThink,
  chatTools,
  includeUsage,
  optionalString,
  requestBody,
  responseFormat,
  streamRequested,
} from './request.js';
import {
  chatChunk,
  chatCompletion,
  chatUsageChunk,
  envelope,
  finishReason,
  openaiToolCalls,
  usageOf,
  type OpenAIToolCall,
  type Usage,
} from './response.js';
import { clientSignal } from '../client-abort.js';
import { streamEvents } from './run.js';

export function chatRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/chat/completions', { config: { permission: 'inference' } }, async (request, reply) => {
    const body = requestBody(request.body);
    const messages = chatMessages(body);
    const logprobs = chatLogprobs(body);
    const options = chatOptions(body);
    const format = responseFormat(body);
    const tools = chatTools(body);
    const stream = streamRequested(body);
    const usageWanted = includeUsage(body);
    const asked = chatThink(body);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const target = await resolveTarget(deps, optionalString(body, 'model'), signal, MODEL_WORDING.chat);
    const model = target.spec;
    const think = await requireCapabilities(deps, target, 'chat', tools?.length ? ['tools'] : [], asked);
    const events = identifyToolCalls(
      dispatchStream(dispatch, { model: model.name, kind: 'chat' }, model.modelSize, () =>
        deps.engine.chat({
          model,
          messages,
          options,
          ...(format ? { format } : {}),
          ...(tools ? { tools } : {}),
          ...(think !== undefined ? { think } : {}),
          ...(logprobs ? { logprobs } : {}),
          keepAliveMs: deps.config.engine.keep_alive,
          signal,
        }),
      ),
    );
    const env = envelope('chatcmpl', body.model as string);
    const calls: OpenAIToolCall[] = [];

    if (stream) {
      let usage: Usage | undefined;
      const frames = (event: IdentifiedRunEvent) => {
        switch (event.type) {
          case 'token':
            return [chatChunk(env, { content: event.text }, null, apiLogprobs(event.logprobs))];
          case 'thinking':
            return [chatChunk(env, { content: '', reasoning: event.text }, null, apiLogprobs(event.logprobs))];
          case 'tool_calls': {
            const converted = openaiToolCalls(event.calls);
            calls.push(...converted);
            return [chatChunk(env, { content: '', tool_calls: converted }, null)];
          }
          case 'done':
            usage = usageOf(event);
            return [chatChunk(env, { content: '' }, finishReason(event.doneReason, calls.length > 0))];
        }
      };
      const closing = () => (usageWanted && usage ? [chatUsageChunk(env, usage)] : []);
      await streamEvents(reply, events, signal, { frames, closing }, deps.logger);
      return reply;
    }

    let content = '';
    let reasoning = '';
    let done: RunStats | undefined;
    const scored: ApiLogprob[] = [];
    for await (const event of events) {
      if (event.type === 'token' || event.type === 'thinking') scored.push(...apiLogprobs(event.logprobs));
      if (event.type === 'token') content += event.text;
      else if (event.type === 'thinking') reasoning += event.text;
      else if (event.type === 'tool_calls') calls.push(...openaiToolCalls(event.calls));
      else done = event;
    }
    if (!done) throw new Error('the engine ended the run without a done event');
    const message = { role: 'assistant' as const, content, ...(reasoning ? { reasoning } : {}), ...(calls.length > 0 ? { tool_calls: calls } : {}) };
    return chatCompletion(env, message, finishReason(done.doneReason, calls.length > 0), usageOf(done), scored);
  });
}
