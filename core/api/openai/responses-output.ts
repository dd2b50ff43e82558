// Builds /v1/responses answers from engine events as Ollama's openai/responses.go does: the whole
// response object, and the stream of typed events from response.created to response.completed.

import { randomInt } from 'node:crypto';
import type { RunEvent, RunStats, ToolCall } from '../../contracts/engine.js';
import type { ResponsesEcho } from './responses-request.js';
import { openaiToolCalls } from './response.js';
import { identify } from '../tool-call-ids.js';
import type { TypedFrame } from './run.js';

type Json = Record<string, unknown>;

export interface ResponseIds {
  response: string;
  message: string;
}

/** Ids as Ollama makes them: `resp_` and `msg_` with a small random number. */
export function responseIds(): ResponseIds {
  return { response: `resp_${randomInt(999999)}`, message: `msg_${randomInt(999999)}` };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function usageOf(stats: RunStats): Json {
  return {
    input_tokens: stats.promptEvalCount,
    output_tokens: stats.evalCount,
    total_tokens: stats.promptEvalCount + stats.evalCount,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens_details: { reasoning_tokens: 0 },
  };
}

const outputText = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

function messageItem(id: string, status: 'in_progress' | 'completed', text?: string): Json {
  return { id, type: 'message', status, role: 'assistant', content: text === undefined ? [] : [outputText(text)] };
}

/** Ollama's reasoning item: the thinking as its one summary text, and as plain-text "encrypted" content. */
function reasoningItem(id: string, thinking: string): Json {
  return { id, type: 'reasoning', summary: [{ type: 'summary_text', text: thinking }], encrypted_content: thinking };
}

function functionCallItems(calls: ToolCall[], ids: (i: number) => string): Json[] {
  return openaiToolCalls(identify(calls, 0)).map((call, i) => ({
    id: ids(i),
    type: 'function_call',
    status: 'completed',
    call_id: call.id,
    name: call.function.name,
    arguments: call.function.arguments,
  }));
}

interface ResponseState {
  status: 'in_progress' | 'completed';
  createdAt: number;
  completedAt: number | null;
  output: Json[];
  usage: Json | null;
}

/** The response object, every field in Ollama's order; the stateless API stores nothing. */
export function responseObject(id: string, model: string, echo: ResponsesEcho, state: ResponseState): Json {
  return {
    id,
    object: 'response',
    created_at: state.createdAt,
    completed_at: state.completedAt,
    status: state.status,
    incomplete_details: null,
    model,
    previous_response_id: null,
    instructions: echo.instructions,
    output: state.output,
    error: null,
    tools: echo.tools,
    tool_choice: 'auto',
    truncation: echo.truncation,
    parallel_tool_calls: true,
    text: echo.text,
    top_p: echo.top_p,
    presence_penalty: 0,
    frequency_penalty: 0,
    top_logprobs: 0,
    temperature: echo.temperature,
    reasoning: echo.reasoning,
    usage: state.usage,
    max_output_tokens: echo.max_output_tokens,
    max_tool_calls: null,
    store: false,
    background: echo.background,
    service_tier: 'default',
    metadata: {},
    safety_identifier: null,
    prompt_cache_key: null,
  };
}

export interface WholeAnswer {
  text: string;
  thinking: string;
  calls: ToolCall[];
}

/**
 * The whole answer as Ollama's ToResponse builds it: a reasoning item when the model thought, then
 * the message item, then one function_call item per tool call. Ollama always has a message item
 * when there are no calls, even an empty one.
 */
export function wholeResponse(ids: ResponseIds, model: string, echo: ResponsesEcho, answer: WholeAnswer, done: RunStats, createdAt: number): Json {
  const { text, thinking, calls } = answer;
  const output = [
    ...(thinking !== '' ? [reasoningItem(`rs_${ids.response}`, thinking)] : []),
    ...(text !== '' || calls.length === 0 ? [messageItem(ids.message, 'completed', text)] : []),
    ...functionCallItems(calls, (i) => `fc_${ids.response}_${i}`),
  ];
  return responseObject(ids.response, model, echo, { status: 'completed', createdAt, completedAt: nowSeconds(), output, usage: usageOf(done) });
}

/** Turns engine events into the Responses stream, numbering every event in sequence_number. */
export class ResponsesStream {
  private sequence = 0;
  private started = false;
  private outputIndex = 0;
  private messageId: string;
  /** The text of the message item in progress, if one is. */
  private text: string | undefined;
  private messageFinished = false;
  /** The reasoning item in progress and its thinking so far, if one is. */
  private reasoning: { id: string; thinking: string } | undefined;
  /** Items finished so far, in output order, for response.completed. */
  private readonly completed: Json[] = [];

  constructor(
    private readonly ids: ResponseIds,
    private readonly model: string,
    private readonly echo: ResponsesEcho,
    private readonly createdAt = nowSeconds(),
  ) {
    this.messageId = ids.message;
  }

  frames(event: RunEvent): TypedFrame[] {
    const frames: TypedFrame[] = [];
    if (!this.started) {
      this.started = true;
      const response = this.response('in_progress', [], null);
      frames.push(this.event('response.created', { response }), this.event('response.in_progress', { response }));
    }
    if (event.type === 'thinking') frames.push(...this.thinkingDelta(event.text));
    else if (event.type === 'token') frames.push(...this.finishReasoning(), ...this.textDelta(event.text));
    else if (event.type === 'tool_calls') frames.push(...this.finishReasoning(), ...this.finishMessage(), ...this.functionCalls(event.calls));
    else {
      frames.push(...this.finishReasoning(), ...this.finishMessage());
      const response = { ...this.response('completed', [...this.completed], usageOf(event)), completed_at: nowSeconds() };
      frames.push(this.event('response.completed', { response }));
    }
    return frames;
  }

  /** A failure after the stream began, as OpenAI's `error` stream event. */
  failure(message: string): TypedFrame {
    return this.event('error', { code: 'server_error', message, param: null });
  }

  private event(type: string, fields: Json): TypedFrame {
    return { type, sequence_number: this.sequence++, ...fields } as TypedFrame;
  }

  private response(status: ResponseState['status'], output: Json[], usage: Json | null): Json {
    return responseObject(this.ids.response, this.model, this.echo, { status, createdAt: this.createdAt, completedAt: null, output, usage });
  }

  private textDelta(delta: string): TypedFrame[] {
    if (delta === '') return [];
    const frames: TypedFrame[] = [];
    if (this.text === undefined) {
      this.text = '';
      // A message item after another message item is named by its place; after reasoning it keeps the response's id.
      if (this.messageFinished) this.messageId = `msg_${this.ids.response.replace(/^resp_/, '')}_${this.outputIndex}`;
      frames.push(
        this.event('response.output_item.added', { output_index: this.outputIndex, item: messageItem(this.messageId, 'in_progress') }),
        this.event('response.content_part.added', { item_id: this.messageId, output_index: this.outputIndex, content_index: 0, part: outputText('') }),
      );
    }
    this.text += delta;
    frames.push(this.event('response.output_text.delta', { item_id: this.messageId, output_index: this.outputIndex, content_index: 0, delta, logprobs: [] }));
    return frames;
  }

  /** Closes the message item in progress; later text opens a new one, as Ollama's FinishMessageItem does. */
  private finishMessage(): TypedFrame[] {
    const text = this.text;
    if (text === undefined) return [];
    const at = { item_id: this.messageId, output_index: this.outputIndex };
    const item = messageItem(this.messageId, 'completed', text);
    const frames = [
      this.event('response.output_text.done', { ...at, content_index: 0, text, logprobs: [] }),
      this.event('response.content_part.done', { ...at, content_index: 0, part: outputText(text) }),
      this.event('response.output_item.done', { output_index: this.outputIndex, item }),
    ];
    this.completed.push(item);
    this.text = undefined;
    this.outputIndex += 1;
    this.messageFinished = true;
    return frames;
  }

  /** Ollama's processThinking: a reasoning item opened with an empty summary, then summary text deltas. */
  private thinkingDelta(delta: string): TypedFrame[] {
    if (delta === '') return [];
    const frames: TypedFrame[] = [];
    if (!this.reasoning) {
      this.reasoning = { id: `rs_${randomInt(999999)}`, thinking: '' };
      frames.push(this.event('response.output_item.added', { output_index: this.outputIndex, item: { id: this.reasoning.id, type: 'reasoning', summary: [] } }));
    }
    this.reasoning.thinking += delta;
    frames.push(this.event('response.reasoning_summary_text.delta', { item_id: this.reasoning.id, output_index: this.outputIndex, summary_index: 0, delta }));
    return frames;
  }

  /** Ollama's finishReasoning: the whole summary text, then the finished item in its place. */
  private finishReasoning(): TypedFrame[] {
    const reasoning = this.reasoning;
    if (!reasoning) return [];
    const item = reasoningItem(reasoning.id, reasoning.thinking);
    const frames = [
      this.event('response.reasoning_summary_text.done', { item_id: reasoning.id, output_index: this.outputIndex, summary_index: 0, text: reasoning.thinking }),
      this.event('response.output_item.done', { output_index: this.outputIndex, item }),
    ];
    this.completed.push(item);
    this.reasoning = undefined;
    this.outputIndex += 1;
    return frames;
  }

  private functionCalls(calls: ToolCall[]): TypedFrame[] {
    const batch = randomInt(999999);
    return functionCallItems(calls, (i) => `fc_${batch}_${i}`).flatMap((item) => {
      const at = { item_id: item.id, output_index: this.outputIndex };
      const frames = [
        this.event('response.output_item.added', { output_index: this.outputIndex, item: { ...item, status: 'in_progress', arguments: '' } }),
        this.event('response.function_call_arguments.delta', { ...at, delta: item.arguments }),
        this.event('response.function_call_arguments.done', { ...at, arguments: item.arguments }),
        this.event('response.output_item.done', { output_index: this.outputIndex, item }),
      ];
      this.completed.push(item);
      this.outputIndex += 1;
      return frames;
    });
  }
}
