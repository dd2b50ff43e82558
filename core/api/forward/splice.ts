// One client stream spliced from the streams of the nodes that served it in turn: passes on each
// upstream's complete lines, keeps the answer so far, and rewrites a continuation's final counts.

import { StringDecoder } from 'node:string_decoder';

/** Native NDJSON (/api/generate, /api/chat) or OpenAI's `data:` events (/v1/chat/completions, /v1/completions). */
export type StreamDialect = 'ndjson' | 'sse';

/** How an answer ended: its final line passed (`done: true`, `data: [DONE]`) or an error line did. */
export type StreamEnd = 'done' | 'error';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function parsed(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const NDJSON_SEPARATOR = '\n';
const SSE_SEPARATOR = '\n\n';
const SSE_DATA = 'data: ';

export class AnswerSplice {
  private answer = '';
  private relayed = 0;
  private tokensBefore = 0;
  private leg = 0;
  private pending = '';
  private decoder = new StringDecoder('utf8');
  private end: StreamEnd | undefined;
  /** The first stream's OpenAI envelope, which every later chunk takes on. */
  private envelope: { id?: unknown; created?: unknown } | undefined;

  /** `startedAt`: when the request reached this node, ms on the clock `push` is given. */
  constructor(
    readonly dialect: StreamDialect,
    private readonly startedAt: number,
  ) {}

  /** The answer text relayed so far (no thinking text): what a continuation goes on from. */
  get text(): string {
    return this.answer;
  }

  /** Tokens relayed so far, one per content chunk as Ollama streams them. */
  get tokens(): number {
    return this.relayed;
  }

  /** How the answer ended; undefined while it is open (its stream may still break). */
  get ended(): StreamEnd | undefined {
    return this.end;
  }

  /** A continuation stream follows: what was left of a line of the broken one is dropped. */
  nextLeg(): void {
    this.leg += 1;
    this.tokensBefore = this.relayed;
    this.pending = '';
    this.decoder = new StringDecoder('utf8');
  }

  /** Upstream bytes in; out, the complete lines to send on now (rewritten on a continuation), maybe ''. */
  push(chunk: Buffer, now: number): string {
    if (this.end) return '';
    this.pending += this.decoder.write(chunk);
    const separator = this.dialect === 'ndjson' ? NDJSON_SEPARATOR : SSE_SEPARATOR;
    let out = '';
    for (let at = this.pending.indexOf(separator); at >= 0 && !this.end; at = this.pending.indexOf(separator)) {
      const unit = this.pending.slice(0, at);
      this.pending = this.pending.slice(at + separator.length);
      if (unit.trim() === '') continue;
      out += (this.dialect === 'ndjson' ? this.line(unit, now) : this.event(unit)) + separator;
    }
    return out;
  }

  /** The line that ends the client's stream when no node can go on with the answer. */
  errorLine(message: string): string {
    if (this.dialect === 'ndjson') return `${JSON.stringify({ error: message })}\n`;
    return `data: ${JSON.stringify({ error: { message, type: 'api_error', param: null, code: null } })}\n\n`;
  }

  private line(text: string, now: number): string {
    const chunk = parsed(text);
    if (!chunk) return text;
    if (chunk.error !== undefined) {
      this.end = 'error';
      return text;
    }
    if (typeof chunk.response === 'string') this.answer += chunk.response;
    else if (isObject(chunk.message) && typeof chunk.message.content === 'string') this.answer += chunk.message.content;
    if (chunk.done !== true) {
      this.relayed += 1;
      return text;
    }
    this.end = 'done';
    if (this.leg === 0) return text;
    if (typeof chunk.eval_count === 'number') chunk.eval_count += this.tokensBefore;
    chunk.total_duration = Math.round((now - this.startedAt) * 1e6);
    return JSON.stringify(chunk);
  }

  private event(text: string): string {
    const data = text
      .split('\n')
      .filter((line) => line.startsWith(SSE_DATA))
      .map((line) => line.slice(SSE_DATA.length))
      .join('\n');
    if (data === '[DONE]') {
      this.end = 'done';
      return text;
    }
    const chunk = parsed(data);
    if (!chunk) return text;
    if (chunk.error !== undefined) {
      this.end = 'error';
      return text;
    }
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
    if (choice) {
      if (isObject(choice.delta) && typeof choice.delta.content === 'string') this.answer += choice.delta.content;
      else if (typeof choice.text === 'string') this.answer += choice.text;
      if (choice.finish_reason === null || choice.finish_reason === undefined) this.relayed += 1;
    }
    if (this.leg === 0) {
      this.envelope ??= { id: chunk.id, created: chunk.created };
      return text;
    }
    if (this.envelope) {
      if (this.envelope.id !== undefined) chunk.id = this.envelope.id;
      if (this.envelope.created !== undefined) chunk.created = this.envelope.created;
    }
    const usage = chunk.usage;
    if (isObject(usage)) {
      if (typeof usage.completion_tokens === 'number') usage.completion_tokens += this.tokensBefore;
      if (typeof usage.total_tokens === 'number') usage.total_tokens += this.tokensBefore;
    }
    return `${SSE_DATA}${JSON.stringify(chunk)}`;
  }
}
