// The chat behind /v1/responses and /v1/messages, which Ollama runs through its chat handler:
// routed by the scheduler, or, for a conversation with no messages, only a load of the model.
// Their replies carry the answer only: a model's thinking is left out of them.

import type { ChatMessage, ModelOptions, OutputFormat, RunEvent, RunStats, ToolDefinition } from '../../contracts/engine.js';
import type { ApiDeps } from '../deps.js';
import { dispatchStream, type Dispatch } from '../dispatch.js';
import { loadModel, type Target } from '../ollama/inference.js';

export interface ChatRun {
  messages: ChatMessage[];
  options: ModelOptions;
  tools?: ToolDefinition[];
  format?: OutputFormat;
}

const LOADED: RunStats = { doneReason: 'load', loadDuration: 0, promptEvalCount: 0, promptEvalDuration: 0, evalCount: 0, evalDuration: 0 };

async function* loadOnly(deps: ApiDeps, dispatch: Dispatch, target: Target, signal: AbortSignal): AsyncGenerator<AnswerEvent> {
  await loadModel(deps, dispatch, target, 'chat', deps.config.engine.keep_alive, signal);
  yield { type: 'done', ...LOADED };
}

export type AnswerEvent = Exclude<RunEvent, { type: 'thinking' }>;

async function* answerOnly(events: AsyncIterable<RunEvent>): AsyncGenerator<AnswerEvent> {
  for await (const event of events) if (event.type !== 'thinking') yield event;
}

export function chatEvents(deps: ApiDeps, dispatch: Dispatch, target: Target, run: ChatRun, signal: AbortSignal): AsyncGenerator<AnswerEvent> {
  if (run.messages.length === 0) return loadOnly(deps, dispatch, target, signal);
  return answerOnly(dispatchStream(dispatch, { model: target.spec.name, kind: 'chat' }, () =>
    deps.engine.chat({
      model: target.spec,
      messages: run.messages,
      options: run.options,
      ...(run.format ? { format: run.format } : {}),
      ...(run.tools ? { tools: run.tools } : {}),
      keepAliveMs: deps.config.engine.keep_alive,
      signal,
    }),
  ));
}
