// Turns an engine run (token, thinking, tool_calls and done events) into Ollama's responses: NDJSON
// chunks while streaming, or one object with the whole text when `stream` is false.

import type { FastifyReply } from 'fastify';
import type { Logprob, RunEvent, ToolCall, TokenLogprob } from '../../contracts/engine.js';
import type { ApiDeps } from '../deps.js';
import { sendNdjson } from './ndjson.js';
import { nanosSince } from './time.js';

export type DoneEvent = Extract<RunEvent, { type: 'done' }>;

/** What one chunk, or the whole response, carries of the model's output. */
export interface RunOutput {
  content: string;
  thinking: string;
  toolCalls: ToolCall[];
  logprobs: ApiLogprob[];
}

/** Ollama's api.TokenLogprob: the token's UTF-8 bytes are added, and left out for an empty token. */
export interface ApiTokenLogprob extends TokenLogprob {
  bytes?: number[];
}

export interface ApiLogprob extends ApiTokenLogprob {
  top_logprobs?: ApiTokenLogprob[];
}

/** Ollama's toAPILogprobs (server/logprob.go). */
function tokenLogprob({ token, logprob }: TokenLogprob): ApiTokenLogprob {
  return { token, logprob, ...(token ? { bytes: [...Buffer.from(token, 'utf8')] } : {}) };
}

/** The API's logprobs of one event, or of none. */
export function apiLogprobs(logprobs: readonly Logprob[] | undefined): ApiLogprob[] {
  return (logprobs ?? []).map((lp) => ({
    ...tokenLogprob(lp),
    ...(lp.top_logprobs?.length ? { top_logprobs: lp.top_logprobs.map(tokenLogprob) } : {}),
  }));
}

/** `logprobs`, left out when empty as Go's omitempty leaves it. */
export function logprobsField(output: RunOutput): { logprobs?: ApiLogprob[] } {
  return output.logprobs.length ? { logprobs: output.logprobs } : {};
}

/** How one endpoint words its chunks. */
export interface ResponseShape {
  /** A streamed piece of output. */
  chunk(output: RunOutput): object;
  /** The last object: `output` is empty when streaming, everything when not. */
  final(done: DoneEvent, output: RunOutput, metrics: Metrics): object;
}

/** Counts and durations; like Ollama's `omitempty` Metrics, zero ones are left out. */
export interface Metrics {
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
}

/** Go's `omitempty` for numbers: a zero is not written. */
export function withoutZeros<T extends Record<string, number>>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== 0)) as Partial<T>;
}

function metrics(done: DoneEvent, started: bigint): Metrics {
  return withoutZeros({
    total_duration: nanosSince(started),
    load_duration: Math.round(done.loadDuration),
    prompt_eval_count: done.promptEvalCount,
    prompt_eval_duration: Math.round(done.promptEvalDuration),
    eval_count: done.evalCount,
    eval_duration: Math.round(done.evalDuration),
  });
}

const nothing = (): RunOutput => ({ content: '', thinking: '', toolCalls: [], logprobs: [] });

async function* chunks(events: AsyncIterable<RunEvent>, shape: ResponseShape, started: bigint): AsyncGenerator<object> {
  for await (const event of events) {
    if (event.type === 'token') yield shape.chunk({ ...nothing(), content: event.text, logprobs: apiLogprobs(event.logprobs) });
    else if (event.type === 'thinking') yield shape.chunk({ ...nothing(), thinking: event.text, logprobs: apiLogprobs(event.logprobs) });
    else if (event.type === 'tool_calls') yield shape.chunk({ ...nothing(), toolCalls: event.calls });
    else yield shape.final(event, nothing(), metrics(event, started));
  }
}

async function whole(events: AsyncIterable<RunEvent>, shape: ResponseShape, started: bigint): Promise<object> {
  const output = nothing();
  for await (const event of events) {
    if (event.type !== 'tool_calls' && event.type !== 'done') output.logprobs.push(...apiLogprobs(event.logprobs));
    if (event.type === 'token') output.content += event.text;
    else if (event.type === 'thinking') output.thinking += event.text;
    else if (event.type === 'tool_calls') output.toolCalls.push(...event.calls);
    else return shape.final(event, output, metrics(event, started));
  }
  throw new Error('the engine ended the run without a done event');
}

export async function sendRun(
  deps: ApiDeps,
  reply: FastifyReply,
  events: AsyncIterable<RunEvent>,
  shape: ResponseShape,
  options: { stream: boolean; started: bigint },
): Promise<FastifyReply> {
  if (options.stream) return sendNdjson(reply, chunks(events, shape, options.started), deps.logger);
  return reply.send(await whole(events, shape, options.started));
}
