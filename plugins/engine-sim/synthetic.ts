// The simulator's stand-ins for a tokenizer, a language model and an embedding model: a word is a
// token, output words are `sim-token-N` drawn from a seeded PRNG, vectors come from word hashes.

import type { Logprob } from '../../core/contracts/engine.js';

const VOCABULARY = 32_000;
/** Output words are `sim-token-0` .. `sim-token-999`. */
const OUTPUT_WORDS = 1000;
/** Beginning of sequence: every prompt starts with it, so no prompt is empty. */
export const BOS = 1;

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/** mulberry32: a fast, well-mixed 32-bit PRNG; returns numbers in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Real vocabularies have no token longer than a few dozen characters: a longer run without spaces is several tokens. */
const MAX_TOKEN_CHARS = 64;

/** What JavaScript's `\s` matches. */
function isSpace(code: number): boolean {
  return (
    (code >= 9 && code <= 13) || code === 32 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

export function tokenId(word: string): number {
  return 3 + (fnv1a(word) % (VOCABULARY - 3));
}

/** The last `limit` tokens of `text` (all of them by default), read from its end: the rest is never looked at. */
export function tokenize(text: string, limit = Infinity): number[] {
  const found: number[] = [];
  let end = text.length;
  while (found.length < limit) {
    while (end > 0 && isSpace(text.charCodeAt(end - 1))) end--;
    if (end === 0) break;
    let start = end;
    while (start > 0 && end - start < MAX_TOKEN_CHARS && !isSpace(text.charCodeAt(start - 1))) start--;
    found.push(tokenId(text.slice(start, end)));
    end = start;
  }
  return found.reverse();
}

/** The first `limit` words of `text`, read from its start. */
function firstWords(text: string, limit: number): string[] {
  const found: string[] = [];
  const word = new RegExp(`\\S{1,${MAX_TOKEN_CHARS}}`, 'g');
  for (let match = word.exec(text); match && found.length < limit; match = word.exec(text)) found.push(match[0]);
  return found;
}

/** How many tokens `text` has, counting no further than `limit + 1`. */
export function tokenCount(text: string, limit: number): number {
  return firstWords(text, limit + 1).length;
}

/** The seed of one run: the request's seed mixed with every prompt token, so each prompt reads differently. */
export function runSeed(seed: number, prompt: readonly number[]): number {
  let hash = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  for (const token of prompt) hash = Math.imul(hash ^ token, 0x01000193);
  return hash >>> 0;
}

/** The next output word of a run and its token id. */
export function outputWords(seed: number): () => { word: string; id: number } {
  const random = prng(seed);
  return () => {
    const word = `sim-token-${Math.floor(random() * OUTPUT_WORDS)}`;
    return { word, id: tokenId(word) };
  };
}

/**
 * A made-up but fixed log probability for an output token, with `top` alternatives most likely
 * first: the token itself leads them, as it does under greedy sampling.
 */
export function tokenLogprob(piece: string, id: number, top: number): Logprob {
  const logprob = -((id % 997) + 1) / 1000;
  const alternatives = Array.from({ length: top }, (_, rank) =>
    rank === 0 ? { token: piece, logprob } : { token: `sim-token-${(id + rank * 7919) % OUTPUT_WORDS}`, logprob: logprob - rank },
  );
  return { token: piece, logprob, ...(top > 0 ? { top_logprobs: alternatives } : {}) };
}

/**
 * A unit vector: the sum of one pseudo-random vector per word. Texts sharing words point alike,
 * which keeps similarity search over simulated embeddings meaningful.
 */
export function embedding(text: string, dimensions: number, maxWords = Infinity): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const picked = firstWords(text, maxWords);
  for (const word of picked.length > 0 ? picked : ['']) {
    const random = prng(fnv1a(word));
    for (let index = 0; index < dimensions; index++) vector[index]! += random() * 2 - 1;
  }
  const norm = Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0)) || 1;
  return vector.map((value) => value / norm);
}
