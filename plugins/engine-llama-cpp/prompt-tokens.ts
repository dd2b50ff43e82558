// Tokenizes prompt text without holding the event loop: text longer than a slice goes through the
// tokenizer a slice at a time with a yield between slices, and only as far as a context can use.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { SpecialToken, SpecialTokensText, type LlamaModel, type LlamaText, type Token } from 'node-llama-cpp';

/**
 * Characters tokenized in one go. llama.cpp's tokenizers grow with the square of a run without
 * spaces (300,000 'a' took 3.3 s at once); a slice this size takes a few ms.
 */
export const SLICE_CHARS = 8192;

export interface TextTokens {
  tokens: Token[];
  /** False when tokenizing stopped early: the text has more tokens than `tokens` holds. */
  complete: boolean;
}

const isSpace = (code: number) => code === 32 || (code >= 9 && code <= 13);
const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** A cut at or near `at`, searching toward `limit`: before a space that ends a word, else not inside a surrogate pair. */
function cutNear(text: string, at: number, limit: number): number {
  const step = limit > at ? 1 : -1;
  for (let i = at; i !== limit; i += step) {
    if (isSpace(text.charCodeAt(i)) && !isSpace(text.charCodeAt(i - 1))) return i;
  }
  return isHighSurrogate(text.charCodeAt(at - 1)) ? at - 1 : at;
}

/** Texts whose tokens each model keeps: a prompt, system prompt or template preamble sent again. */
const RECENT_TEXTS = 32;
const recentTokens = new WeakMap<LlamaModel, Map<string, readonly Token[]>>();

/**
 * Slices after the first continue a text: the tokenizer must not add its leading-space prefix again.
 * A text tokenized lately is not tokenized again: the same model gives the same tokens, and a
 * request waits on tokenizing before its first token. Callers get their own copy.
 */
function tokenizeSlice(model: LlamaModel, slice: string, special: boolean, continuing: boolean): Token[] {
  let recent = recentTokens.get(model);
  if (!recent) recentTokens.set(model, (recent = new Map()));
  const key = `${special ? 's' : '-'}${continuing ? 'c' : '-'}${slice}`;
  let tokens = recent.get(key);
  if (tokens) recent.delete(key);
  else {
    tokens = continuing ? model.tokenize(slice, special, 'trimLeadingSpace') : model.tokenize(slice, special);
    if (recent.size >= RECENT_TEXTS) recent.delete(recent.keys().next().value!);
  }
  recent.set(key, tokens);
  return [...tokens];
}

/**
 * The tokens of `text`'s end: all of them, or, when the text holds more than `limit`, at least its
 * last `limit` (a prompt keeps its end when cut). Each slice starts on a word where it can.
 */
export async function tokenizeEnd(model: LlamaModel, text: string, special: boolean, limit: number, signal?: AbortSignal, continuing = false): Promise<TextTokens> {
  if (text.length <= SLICE_CHARS) return { tokens: tokenizeSlice(model, text, special, continuing), complete: true };
  const parts: Token[][] = [];
  let count = 0;
  let end = text.length;
  while (end > 0 && count < limit) {
    if (parts.length > 0) {
      await nextTurn();
      signal?.throwIfAborted();
    }
    const target = end - SLICE_CHARS;
    const start = target <= 0 ? 0 : cutNear(text, target, end - SLICE_CHARS / 2);
    const part = tokenizeSlice(model, text.slice(start, end), special, start > 0 || continuing);
    parts.unshift(part);
    count += part.length;
    end = start;
  }
  return { tokens: parts.flat(), complete: end === 0 };
}

/** The tokens of `text`'s start: all of them, or, past `limit`, the first `limit + 1` (enough to tell it is longer). */
export async function tokenizeStart(model: LlamaModel, text: string, special: boolean, limit: number, signal?: AbortSignal): Promise<TextTokens> {
  if (text.length <= SLICE_CHARS) return { tokens: tokenizeSlice(model, text, special, false), complete: true };
  const tokens: Token[] = [];
  let start = 0;
  while (start < text.length && tokens.length <= limit) {
    if (start > 0) {
      await nextTurn();
      signal?.throwIfAborted();
    }
    const target = start + SLICE_CHARS;
    const end = target >= text.length ? text.length : cutNear(text, target, start + SLICE_CHARS / 2);
    tokens.push(...tokenizeSlice(model, text.slice(start, end), special, start > 0));
    start = end;
  }
  return { tokens: tokens.slice(0, limit + 1), complete: start === text.length && tokens.length <= limit };
}

type Run = { text: string } | { special: SpecialToken | SpecialTokensText };

/** A LlamaText as LlamaText.tokenize splits it: plain strings between special parts go to the tokenizer together. */
function runsOf(text: LlamaText): Run[] {
  const runs: Run[] = [];
  let plain = '';
  for (const value of text.values) {
    if (value instanceof SpecialToken || value instanceof SpecialTokensText) {
      runs.push({ text: plain }, { special: value });
      plain = '';
    } else plain += value;
  }
  runs.push({ text: plain });
  return runs.filter((run) => !('text' in run) || run.text !== '');
}

/** `tokenizeEnd` for a chat format's LlamaText, with the tokens LlamaText.tokenize would give. */
export async function tokenizeTextEnd(model: LlamaModel, text: LlamaText, limit: number, signal?: AbortSignal): Promise<TextTokens> {
  const runs = runsOf(text);
  const parts: Token[][] = [];
  let count = 0;
  let index = runs.length - 1;
  for (; index >= 0 && count < limit; index--) {
    const run = runs[index]!;
    const continuing = index > 0;
    if ('text' in run) {
      const part = await tokenizeEnd(model, run.text, false, limit - count, signal, continuing);
      parts.unshift(part.tokens);
      count += part.tokens.length;
      if (!part.complete) return { tokens: parts.flat(), complete: false };
    } else {
      const part = run.special instanceof SpecialToken ? model.tokenize(run.special.value, 'builtin') : tokenizeSlice(model, run.special.value, true, continuing);
      parts.unshift(part);
      count += part.length;
    }
  }
  return { tokens: parts.flat(), complete: index < 0 };
}
