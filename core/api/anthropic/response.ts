// Builds Anthropic Messages answers from engine events as Ollama's anthropic package does: the
// whole message, and the stream from message_start through content blocks to message_stop.

import { randomBytes } from 'node:crypto';
import type { DoneReason, RunStats, ToolCall } from '../../contracts/engine.js';
import type { AnswerEvent } from '../openai/chat-run.js';
import { openaiToolCalls } from '../openai/response.js';
import { identify } from '../tool-call-ids.js';
import type { TypedFrame } from '../openai/run.js';
import { anthropicErrorType } from './errors.js';

type Json = Record<string, unknown>;

/** `msg_` and 24 hex digits, as Ollama's GenerateMessageID makes them. */
export function messageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

/** Ollama's mapStopReason; it leaves the field out when there is none. */
export function stopReason(reason: DoneReason | '', sawToolCalls: boolean): string | undefined {
  if (sawToolCalls) return 'tool_use';
  if (reason === 'stop') return 'end_turn';
  if (reason === 'length') return 'max_tokens';
  return reason === '' ? undefined : 'stop_sequence';
}

/** tool_use blocks with the ids and argument JSON the OpenAI routes give the same calls. */
function toolUses(calls: ToolCall[]): { id: string; name: string; input: Record<string, unknown>; json: string }[] {
  return openaiToolCalls(identify(calls, 0)).map((call, i) => ({ id: call.id, name: call.function.name, input: calls[i]!.function.arguments, json: call.function.arguments }));
}

export function wholeMessage(id: string, model: string, text: string, calls: ToolCall[], done: RunStats): Json {
  const content: Json[] = [
    ...(text !== '' ? [{ type: 'text', text }] : []),
    ...toolUses(calls).map(({ id: callId, name, input }) => ({ type: 'tool_use', id: callId, name, input })),
  ];
  const stop = stopReason(done.doneReason, calls.length > 0);
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    ...(stop ? { stop_reason: stop } : {}),
    usage: { input_tokens: done.promptEvalCount, output_tokens: done.evalCount },
  };
}

/** Turns engine events into the Messages stream; a block is open while text streams into it. */
export class MessagesStream {
  private started = false;
  private index = 0;
  private textOpen = false;
  private sawToolCalls = false;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  frames(event: AnswerEvent): TypedFrame[] {
    const frames: TypedFrame[] = [];
    if (!this.started) {
      this.started = true;
      // The prompt is counted only when the run ends; until then Ollama reports its estimate.
      const counted = event.type === 'done' ? event.promptEvalCount : 0;
      const usage = { input_tokens: counted || this.estimatedInputTokens, output_tokens: 0 };
      frames.push({ type: 'message_start', message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], usage } } as TypedFrame);
    }
    if (event.type === 'token') frames.push(...this.text(event.text));
    else if (event.type === 'tool_calls') frames.push(...this.toolUse(event.calls));
    else {
      frames.push(...this.closeText());
      const stop = stopReason(event.doneReason, this.sawToolCalls);
      frames.push(
        { type: 'message_delta', delta: stop ? { stop_reason: stop } : {}, usage: { input_tokens: event.promptEvalCount, output_tokens: event.evalCount } } as TypedFrame,
        { type: 'message_stop' },
      );
    }
    return frames;
  }

  /** A failure after the stream began, as Anthropic's `error` stream event. */
  failure(message: string): TypedFrame {
    return { type: 'error', error: { type: anthropicErrorType(500), message } } as TypedFrame;
  }

  private text(text: string): TypedFrame[] {
    if (text === '') return [];
    const frames: TypedFrame[] = [];
    if (!this.textOpen) {
      this.textOpen = true;
      frames.push({ type: 'content_block_start', index: this.index, content_block: { type: 'text', text: '' } } as TypedFrame);
    }
    frames.push({ type: 'content_block_delta', index: this.index, delta: { type: 'text_delta', text } } as TypedFrame);
    return frames;
  }

  private closeText(): TypedFrame[] {
    if (!this.textOpen) return [];
    this.textOpen = false;
    return [{ type: 'content_block_stop', index: this.index++ } as TypedFrame];
  }

  private toolUse(calls: ToolCall[]): TypedFrame[] {
    const frames = this.closeText();
    for (const { id, name, json } of toolUses(calls)) {
      this.sawToolCalls = true;
      const index = this.index++;
      frames.push(
        { type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} } } as TypedFrame,
        { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json } } as TypedFrame,
        { type: 'content_block_stop', index } as TypedFrame,
      );
    }
    return frames;
  }
}
