// POST /api/chat: the assistant's next message for a conversation, streamed as NDJSON or returned
// whole, with thinking and tool calls; empty messages only load the model, or unload it when keep_alive is 0.

import type { FastifyInstance } from 'fastify';
import { mapInTurns } from '../../turns.js';
import { clientSignal } from '../client-abort.js';
import type { ApiDeps } from '../deps.js';
import { dispatchStream, requestDispatch } from '../dispatch.js';
import { identifyToolCalls } from '../tool-call-ids.js';
import { requestFields } from './body.js';
import { loadModel, requireCapabilities, resolveTarget, unloadModel } from './inference.js';
import { parseFormat, parseMessage, parseThink, parseTools, parseLogprobs } from './inputs.js';
import { keepAliveMs } from './keep-alive.js';
import { parseOptions } from './options.js';
import { logprobsField, sendRun, type ResponseShape, type RunOutput } from './run-response.js';
import { createdAt, startClock } from './time.js';

/** A conversation can hold hundreds of thousands of messages: they are read a slice at a time. */
async function parseChat(body: unknown, defaultKeepAliveMs: number) {
  const fields = requestFields(body, 'ChatRequest');
  const keepAliveRaw = fields.raw('keep_alive');
  return {
    model: fields.string('model'),
    messages: await mapInTurns(fields.objects('messages', 'Message') ?? [], parseMessage),
    tools: parseTools(fields),
    stream: fields.boolean('stream') ?? true,
    format: parseFormat(fields.raw('format')),
    options: parseOptions(fields.object('options')),
    keepAliveMs: keepAliveMs(keepAliveRaw, defaultKeepAliveMs),
    keepAliveGiven: keepAliveRaw !== undefined,
    think: parseThink(fields.raw('think')),
    logprobs: parseLogprobs(fields),
  };
}

/** Ollama's Message: empty thinking and tool calls are left out. */
function assistant({ content, thinking, toolCalls }: RunOutput) {
  return { role: 'assistant', content, ...(thinking ? { thinking } : {}), ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) };
}

const EMPTY: RunOutput = { content: '', thinking: '', toolCalls: [], logprobs: [] };

export function chatRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/api/chat', { config: { permission: 'inference' } }, async (request, reply) => {
    const started = startClock();
    const req = await parseChat(request.body, deps.config.engine.keep_alive);
    const signal = clientSignal(reply);
    const dispatch = requestDispatch(deps, request);
    const target = await resolveTarget(deps, req.model, signal);
    const model = target.input;

    if (req.messages.length === 0 && req.keepAliveGiven && req.keepAliveMs === 0) {
      await unloadModel(deps, target, signal);
      return { model, created_at: createdAt(), message: assistant(EMPTY), done: true, done_reason: 'unload' };
    }
    const think = await requireCapabilities(deps, target, 'chat', req.tools?.length ? ['tools'] : [], req.think);
    if (req.messages.length === 0) {
      await loadModel(deps, dispatch, target, 'chat', req.keepAliveMs, signal);
      return { model, created_at: createdAt(), message: assistant(EMPTY), done: true, done_reason: 'load' };
    }

    const events = dispatchStream(dispatch, { model: target.spec.name, kind: 'chat' }, target.spec.modelSize, () =>
      deps.engine.chat({
        model: target.spec,
        messages: req.messages,
        options: req.options,
        keepAliveMs: req.keepAliveMs,
        signal,
        ...(req.tools?.length ? { tools: req.tools } : {}),
        ...(req.format ? { format: req.format } : {}),
        ...(think !== undefined ? { think } : {}),
        ...(req.logprobs ? { logprobs: req.logprobs } : {}),
      }),
    );
    const shape: ResponseShape = {
      chunk: (output) => ({ model, created_at: createdAt(), message: assistant(output), done: false, ...logprobsField(output) }),
      final: (done, output, metrics) => ({
        model,
        created_at: createdAt(),
        message: assistant(output),
        done: true,
        done_reason: done.doneReason,
        ...logprobsField(output),
        ...metrics,
      }),
    };
    return sendRun(deps, reply, identifyToolCalls(events), shape, { stream: req.stream, started });
  });
}
