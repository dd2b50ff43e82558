// POST /v1/messages: Anthropic's Messages API as Ollama serves it for coding agents, a chat
// through the scheduler answered with a message or, with `stream`, Anthropic's stream events.

import type { FastifyInstance } from 'fastify';
import type { ToolCall } from '../../contracts/engine.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';
import { requestDispatch } from '../dispatch.js';
import { requireCapabilities, resolveTarget } from '../ollama/inference.js';
import { chatEvents } from '../openai/chat-run.js';
import { streamEvents } from '../openai/run.js';
import { messagesRequest } from './request.js';
import { MessagesStream, messageId, wholeMessage } from './response.js';

export function messagesRoute(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/messages', { config: { permission: 'inference' } }, async (request, reply) => {
    const run = messagesRequest(request.body);
    const signal = clientSignal(reply);
    const target = await resolveTarget(deps, run.model, signal);
    // Thinking is never refused here: Ollama relaxes it for Anthropic clients, so a model that cannot think just answers.
    const think = await requireCapabilities(deps, target, 'chat', run.tools ? ['tools'] : [], run.think, { relaxThinking: true });
    const events = chatEvents(deps, requestDispatch(deps, request), target, { ...run, ...(think !== undefined ? { think } : {}) }, signal);
    const id = messageId();

    if (run.stream) {
      const stream = new MessagesStream(id, run.model, run.estimatedInputTokens);
      await streamEvents(reply, events, signal, { frames: (event) => stream.frames(event), closing: () => [], typed: stream }, deps.logger);
      return reply;
    }

    let text = '';
    let thinking = '';
    const calls: ToolCall[] = [];
    for await (const event of events) {
      if (event.type === 'token') text += event.text;
      else if (event.type === 'thinking') thinking += event.text;
      else if (event.type === 'tool_calls') calls.push(...event.calls);
      else return wholeMessage(id, run.model, { text, thinking, calls }, event);
    }
    throw new Error('the engine ended the run without a done event');
  });
}
