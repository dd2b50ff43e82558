// Maps Ollama's request options onto llama.cpp sampling and limits, with Ollama's defaults wherever
// neither the request nor the model's params layer says otherwise.

import type { LLamaContextualRepeatPenalty, LlamaContextSequenceRepeatPenalty, Token } from 'node-llama-cpp';
import type { ModelOptions } from '../../core/contracts/engine.js';

/** Ollama's documented defaults; node-llama-cpp's own (greedy, no penalty) would change outputs. */
export const OLLAMA_DEFAULTS = {
  temperature: 0.8,
  top_k: 40,
  top_p: 0.9,
  min_p: 0,
  repeat_penalty: 1.1,
  repeat_last_n: 64,
  presence_penalty: 0,
  frequency_penalty: 0,
} as const;

export interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  /** Absent for a random seed (Ollama's -1). */
  seed?: number;
  repeat?: { penalty: number; lastN: number; presencePenalty: number; frequencyPenalty: number };
}

/** Request options over the model's params layer; keys a request leaves undefined do not erase defaults. */
export function mergeOptions(modelDefaults: ModelOptions, request: ModelOptions): ModelOptions {
  const merged: Record<string, unknown> = { ...modelDefaults };
  for (const [key, value] of Object.entries(request)) if (value !== undefined && value !== null) merged[key] = value;
  return merged as ModelOptions;
}

export function samplingOf(options: ModelOptions, contextLength: number): Sampling {
  const o = { ...OLLAMA_DEFAULTS, ...options };
  const lastN = o.repeat_last_n < 0 ? contextLength : o.repeat_last_n;
  const penalises = lastN > 0 && (o.repeat_penalty !== 1 || o.presence_penalty !== 0 || o.frequency_penalty !== 0);
  return {
    temperature: Math.max(0, o.temperature),
    topK: Math.max(0, Math.floor(o.top_k)),
    topP: o.top_p <= 0 ? 1 : Math.min(1, o.top_p),
    minP: Math.max(0, o.min_p),
    ...(o.seed !== undefined && o.seed >= 0 ? { seed: Math.floor(o.seed) } : {}),
    ...(penalises
      ? { repeat: { penalty: o.repeat_penalty, lastN, presencePenalty: o.presence_penalty, frequencyPenalty: o.frequency_penalty } }
      : {}),
  };
}

/** Tokens to generate at most: num_predict when positive (Ollama: -1 and 0 mean no limit), else what fits. */
export function generationLimit(options: ModelOptions, room: number): { maxTokens: number; byRequest: boolean } {
  const requested = options.num_predict ?? -1;
  if (requested > 0 && requested <= room) return { maxTokens: Math.floor(requested), byRequest: true };
  return { maxTokens: Math.max(0, room), byRequest: false };
}

/** Sampling as `LlamaContextSequence.evaluate` takes it; `history` is the prompt plus what was generated. */
export function evaluateSampling(sampling: Sampling, history: () => readonly Token[]) {
  const { repeat, ...rest } = sampling;
  const repeatPenalty: LlamaContextSequenceRepeatPenalty | undefined = repeat && {
    punishTokens: () => history().slice(-repeat.lastN),
    penalty: repeat.penalty,
    presencePenalty: repeat.presencePenalty,
    frequencyPenalty: repeat.frequencyPenalty,
  };
  return { ...rest, ...(repeatPenalty ? { repeatPenalty } : {}) };
}

/** Sampling as `LlamaChat.generateResponse` takes it. */
export function chatSampling(sampling: Sampling) {
  const { repeat, ...rest } = sampling;
  const repeatPenalty: LLamaContextualRepeatPenalty | false = repeat
    ? {
        lastTokens: repeat.lastN,
        penalty: repeat.penalty,
        presencePenalty: repeat.presencePenalty,
        frequencyPenalty: repeat.frequencyPenalty,
        penalizeNewLine: true,
      }
    : false;
  return { ...rest, repeatPenalty };
}
