// Builds Anthropic Messages answers from engine events as Ollama's anthropic package does: the
// whole message, and the stream from message_start through content blocks to message_stop.

import { randomBytes } from 'node:crypto';
import type { DoneReason, RunEvent, RunStats, ToolCall } from '../../contracts/engine.js';
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

/** Ollama's ToMessagesResponse: a thinking block first when the model thought, then text, then tool uses. */
export function wholeMessage(id: string, model: string, answer: { text: string; thinking: string; calls: ToolCall[] }, done: RunStats): Json {
  const { text, thinking, calls } = answer;
  const content: Json[] = [
    ...(thinking !== '' ? [{ type: 'thinking', thinking }] : []),
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
  /** Ollama's stream has at most one thinking block: thinking after it has closed is not sent. */
  private thinking: 'none' | 'open' | 'closed' = 'none';
  private sawToolCalls = false;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  frames(event: RunEvent): TypedFrame[] {
    const frames: TypedFrame[] = [];
    if (!this.started) {
      this.started = true;
      // The prompt is counted only when the run ends; until then Ollama reports its estimate.
      const counted = event.type === 'done' ? event.promptEvalCount : 0;
      const usage = { input_tokens: counted || this.estimatedInputTokens, output_tokens: 0 };
      frames.push({ type: 'message_start', message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], usage } } as TypedFrame);
    }
    if (event.type === 'thinking') frames.push(...this.thought(event.text));
    else if (event.type === 'token') frames.push(...(event.text ? this.closeThinking() : []), ...this.text(event.text));
    else if (event.type === 'tool_calls') frames.push(...this.closeThinking(), ...this.toolUse(event.calls));
    else {
      frames.push(...this.closeText(), ...this.closeThinking());
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

  /** Ollama's thinking block: text in progress is closed first, then thinking_delta events. */
  private thought(thinking: string): TypedFrame[] {
    if (thinking === '' || this.thinking === 'closed') return [];
    const frames = this.closeText();
    if (this.thinking === 'none') {
      this.thinking = 'open';
      frames.push({ type: 'content_block_start', index: this.index, content_block: { type: 'thinking', thinking: '' } } as TypedFrame);
    }
    frames.push({ type: 'content_block_delta', index: this.index, delta: { type: 'thinking_delta', thinking } } as TypedFrame);
    return frames;
  }

  private closeThinking(): TypedFrame[] {
    if (this.thinking !== 'open') return [];
    this.thinking = 'closed';
    return [{ type: 'content_block_stop', index: this.index++ } as TypedFrame];
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
