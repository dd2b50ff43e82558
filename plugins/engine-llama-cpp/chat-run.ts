// Runs one chat turn through node-llama-cpp's LlamaChat, which formats the conversation with the
// model's own chat template and handles function calling; streams its output as RunEvents.

import { LlamaChat, type ChatHistoryItem, type ChatModelFunctions, type ChatWrapper, type LlamaContextSequence, type LlamaGrammar } from 'node-llama-cpp';
import type { RunEvent } from '../../core/contracts/engine.js';
import { toolCallsOf } from './chat-history.js';
import { EventQueue } from './event-queue.js';
import { chatSampling, type Sampling } from './sampling.js';

export interface ChatRun {
  sequence: LlamaContextSequence;
  chatWrapper: ChatWrapper;
  history: ChatHistoryItem[];
  /** When set, the model may answer with calls to these instead of text. */
  functions?: ChatModelFunctions;
  /** Ignored when `functions` is set: llama.cpp constrains a function call with its own grammar. */
  grammar?: LlamaGrammar;
  sampling: Sampling;
  maxTokens: number;
  stopStrings: readonly string[];
  signal: AbortSignal;
  loadDuration: number;
}

const elapsed = (since: bigint, until: bigint) => Number(until - since);

/**
 * The whole prompt's length, cached prefix included, as Ollama counts it. The sequence ends as the
 * prompt plus every generated token fed back; each decode with logits is one output token, and the
 * first of them is the prompt's last token.
 */
const promptLength = (contextTokens: number, outputTokens: number) => Math.max(0, contextTokens - Math.max(0, outputTokens - 1));

export async function* runChat(run: ChatRun): AsyncGenerator<RunEvent> {
  run.signal.throwIfAborted();
  const chat = new LlamaChat({ contextSequence: run.sequence, chatWrapper: run.chatWrapper });
  const events = new EventQueue<RunEvent>();
  // Ends generation both when the caller aborts and when the consumer stops reading early.
  const generation = new AbortController();
  const onAbort = () => generation.abort(run.signal.reason);
  run.signal.addEventListener('abort', onAbort, { once: true });

  const meter = run.sequence.tokenMeter.getState();
  const started = process.hrtime.bigint();
  let firstToken: bigint | undefined;
  const common = {
    ...chatSampling(run.sampling),
    maxTokens: run.maxTokens,
    customStopTriggers: [...run.stopStrings],
    signal: generation.signal,
    onTextChunk: (text: string) => {
      firstToken ??= process.hrtime.bigint();
      if (text) events.push({ type: 'token', text });
    },
  };
  const response = run.functions
    ? chat.generateResponse(run.history, { ...common, functions: run.functions })
    : chat.generateResponse(run.history, { ...common, ...(run.grammar ? { grammar: run.grammar } : {}) });
  const finished = response.then(
    (result) => {
      const end = process.hrtime.bigint();
      const used = run.sequence.tokenMeter.diff(meter);
      if (result.functionCalls && result.functionCalls.length > 0) {
        events.push({ type: 'tool_calls', calls: toolCallsOf(result.functionCalls) });
      }
      events.push({
        type: 'done',
        doneReason: result.metadata.stopReason === 'maxTokens' ? 'length' : 'stop',
        loadDuration: run.loadDuration,
        promptEvalCount: promptLength(run.sequence.nextTokenIndex, used.usedOutputTokens),
        promptEvalDuration: elapsed(started, firstToken ?? end),
        evalCount: used.usedOutputTokens,
        evalDuration: elapsed(firstToken ?? end, end),
      });
      events.end();
    },
    (error: unknown) => events.fail(error),
  );
  try {
    yield* events;
  } finally {
    run.signal.removeEventListener('abort', onAbort);
    generation.abort();
    await finished;
    chat.dispose({ disposeSequence: false });
  }
}
