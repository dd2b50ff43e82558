// The chat behind /v1/responses and /v1/messages, which Ollama runs through its chat handler:
// routed by the scheduler, or, for a conversation with no messages, only a load of the model.
// The model's thinking comes as its own events, which each API words in its own way.

import type { ChatMessage, ModelOptions, OutputFormat, RunEvent, RunStats, ThinkValue, ToolDefinition } from '../../contracts/engine.js';
import type { ApiDeps } from '../deps.js';
import { dispatchStream, type Dispatch } from '../dispatch.js';
import { loadModel, type Target } from '../ollama/inference.js';

export interface ChatRun {
  messages: ChatMessage[];
  options: ModelOptions;
  tools?: ToolDefinition[];
  format?: OutputFormat;
  think?: ThinkValue;
}

const LOADED: RunStats = { doneReason: 'load', loadDuration: 0, promptEvalCount: 0, promptEvalDuration: 0, evalCount: 0, evalDuration: 0 };

async function* loadOnly(deps: ApiDeps, dispatch: Dispatch, target: Target, signal: AbortSignal): AsyncGenerator<RunEvent> {
  await loadModel(deps, dispatch, target, 'chat', deps.config.engine.keep_alive, signal);
  yield { type: 'done', ...LOADED };
}

export function chatEvents(deps: ApiDeps, dispatch: Dispatch, target: Target, run: ChatRun, signal: AbortSignal): AsyncGenerator<RunEvent> {
  if (run.messages.length === 0) return loadOnly(deps, dispatch, target, signal);
  return dispatchStream(dispatch, { model: target.spec.name, kind: 'chat' }, target.spec.modelSize, () =>
    deps.engine.chat({
      model: target.spec,
      messages: run.messages,
      options: run.options,
      ...(run.format ? { format: run.format } : {}),
      ...(run.tools ? { tools: run.tools } : {}),
      ...(run.think !== undefined ? { think: run.think } : {}),
      keepAliveMs: deps.config.engine.keep_alive,
      signal,
    }),
  );
}
