// Builds OpenAI response objects from engine results, shaped as Ollama's openai package writes
// them: chat completions and chunks, text completions, embedding lists and model objects.

import { randomInt } from 'node:crypto';
import type { DoneReason, RunStats } from '../../contracts/engine.js';
import type { StoredModel } from '../../contracts/storage.js';
import { formatModelName } from '../../models/name.js';
import type { ApiLogprob } from '../ollama/run-response.js';
import type { IdentifiedToolCall } from '../tool-call-ids.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface OpenAIToolCall {
  id: string;
  index: number;
  type: 'function';
  function: { name: string; arguments: string };
}

/** What every chat and completion object carries besides its choices. */
export interface Envelope {
  id: string;
  created: number;
  model: string;
}

/** Ids as Ollama makes them: a prefix and a small random number. */
export function envelope(prefix: 'chatcmpl' | 'cmpl', model: string): Envelope {
  return { id: `${prefix}-${randomInt(999)}`, created: Math.floor(Date.now() / 1000), model };
}

export function usageOf(stats: RunStats): Usage {
  return {
    prompt_tokens: stats.promptEvalCount,
    completion_tokens: stats.evalCount,
    total_tokens: stats.promptEvalCount + stats.evalCount,
  };
}

export function finishReason(reason: DoneReason, sawToolCalls: boolean): FinishReason {
  if (sawToolCalls) return 'tool_calls';
  return reason === 'length' ? 'length' : 'stop';
}

/** Ollama's ToToolCalls: the chat handler's id and index, the arguments as a JSON string. */
export function openaiToolCalls(calls: IdentifiedToolCall[]): OpenAIToolCall[] {
  return calls.map((call) => ({
    id: call.id,
    index: call.function.index,
    type: 'function',
    function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments) },
  }));
}

interface ChatMessageOut {
  role: 'assistant';
  content: string;
  /** The model's thinking, which Ollama's /v1 names `reasoning`. */
  reasoning?: string;
  tool_calls?: OpenAIToolCall[];
}

/** Ollama's ChoiceLogprobs, left out when there are none. */
function choiceLogprobs(logprobs: readonly ApiLogprob[] | undefined) {
  return logprobs?.length ? { logprobs: { content: logprobs } } : {};
}

export function chatCompletion(env: Envelope, message: ChatMessageOut, finish: FinishReason, usage: Usage, logprobs?: readonly ApiLogprob[]) {
  return {
    id: env.id,
    object: 'chat.completion',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_ollama',
    choices: [{ index: 0, message, finish_reason: finish, ...choiceLogprobs(logprobs) }],
    usage,
  };
}

export function chatChunk(env: Envelope, delta: Omit<ChatMessageOut, 'role'>, finish: FinishReason | null, logprobs?: readonly ApiLogprob[]) {
  return {
    id: env.id,
    object: 'chat.completion.chunk',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_ollama',
    choices: [{ index: 0, delta: { role: 'assistant', ...delta }, finish_reason: finish, ...choiceLogprobs(logprobs) }],
  };
}

export function chatUsageChunk(env: Envelope, usage: Usage) {
  return { id: env.id, object: 'chat.completion.chunk', created: env.created, model: env.model, system_fingerprint: 'fp_ollama', choices: [], usage };
}

export function completion(env: Envelope, text: string, finish: FinishReason | null, usage?: Usage) {
  return {
    id: env.id,
    object: 'text_completion',
    created: env.created,
    model: env.model,
    system_fingerprint: 'fp_ollama',
    choices: [{ text, index: 0, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
}

export function completionUsageChunk(env: Envelope, usage: Usage) {
  return { id: env.id, object: 'text_completion', created: env.created, model: env.model, system_fingerprint: 'fp_ollama', choices: [], usage };
}

/** Little-endian float32s in base64, as OpenAI's `encoding_format: "base64"` returns them. */
export function base64Floats(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString('base64');
}

export function embeddingList(model: string, embeddings: (number[] | string)[], promptTokens: number) {
  return {
    object: 'list',
    data: embeddings.map((embedding, index) => ({ object: 'embedding', embedding, index })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** `id` is the name as the client wrote it for a retrieve, the display name in a list. */
export function modelObject(model: StoredModel, id = formatModelName(model.name)) {
  return { id, object: 'model', created: Math.floor(model.modifiedAt.getTime() / 1000), owned_by: model.name.namespace };
}
