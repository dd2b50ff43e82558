// A replayable inference workload: users holding multi-turn chats behind a few long shared system
// prompts, and one-shot generate prompts, arriving as a Poisson process with burst periods. Pure:
// the same options and seed give the same workload; a driver plays each user's script in turn.

import { prng } from '../conformance/fixtures/prng.js';

export interface Range {
  min: number;
  max: number;
}

export interface WorkloadOptions {
  seed: number;
  /** Users holding a chat of several turns. */
  chatUsers: number;
  /** Users sending one /api/generate prompt. */
  oneShotUsers: number;
  /** Turns of each chat. */
  turns: Range;
  /** Distinct system prompts the chats (and half the one-shot prompts) share. */
  systemPrompts: number;
  /** Words of each system prompt: long enough that prefill matters. */
  systemPromptWords: Range;
  /** Words of each user message or one-shot question. */
  userMessageWords: Range;
  /** Tokens each answer may write (options.num_predict). */
  answerTokens: Range;
  /** A user's pause between an answer and their next turn, ms. */
  thinkMs: Range;
  /** Users starting per second outside bursts. */
  arrivalsPerSecond: number;
  /** Every `everyMs`, for `lengthMs`, users arrive `factor` times as fast. */
  bursts: { everyMs: number; lengthMs: number; factor: number };
  /** Models the chats use (picked per user), and those the one-shot prompts use. */
  chatModels: readonly string[];
  oneShotModels: readonly string[];
  /** options.num_ctx of every request: room for a long system prompt and the turns after it. */
  numCtx: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ScriptTurn {
  /** ms after the previous answer came back (0 on the first turn, which starts at the script's `startAt`). */
  pauseMs: number;
  /** The user's new message (chat) or the whole prompt (generate). */
  content: string;
  numPredict: number;
}

/** One user's part of the workload: when they arrive, and what they send turn after turn. */
export interface UserScript {
  user: string;
  kind: 'chat' | 'generate';
  model: string;
  /** ms after the workload's start. */
  startAt: number;
  /** Index into `Workload.systemPrompts`, or null without one. */
  system: number | null;
  turns: ScriptTurn[];
}

export interface Workload {
  systemPrompts: string[];
  /** options.num_ctx of every request. */
  numCtx: number;
  /** Sorted by `startAt`. */
  scripts: UserScript[];
}

export type RequestBody =
  | { model: string; messages: ChatMessage[]; keep_alive: number; options: { num_predict: number; num_ctx: number; seed: number } }
  | { model: string; prompt: string; system?: string; keep_alive: number; options: { num_predict: number; num_ctx: number; seed: number } };

export interface TimedRequest {
  /** ms after the workload's start when it is due. */
  at: number;
  user: string;
  turn: number;
  path: '/api/chat' | '/api/generate';
  body: RequestBody;
}

/** Syllables for words that look like text; the sim counts a word as a token. */
const SYLLABLES = ['ka', 'lo', 'mi', 'ra', 'te', 'su', 'no', 'vi', 'an', 'el', 'or', 'us', 'pre', 'tra', 'ble', 'con', 'der', 'ist', 'ment', 'ion'];
const VOCABULARY_SIZE = 2000;

function integer(random: () => number, range: Range): number {
  return range.min + Math.floor(random() * (range.max - range.min + 1));
}

function vocabulary(random: () => number): string[] {
  const words = new Set<string>();
  while (words.size < VOCABULARY_SIZE) {
    const syllables = 1 + Math.floor(random() * 3);
    let word = '';
    for (let i = 0; i < syllables; i++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.add(word);
  }
  return [...words];
}

function text(random: () => number, words: readonly string[], count: number): string {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(words[Math.floor(random() * words.length)]!);
  return out.join(' ');
}

/** The first `count` arrivals of a Poisson process whose rate is `factor` times higher inside bursts (by thinning). */
export function arrivals(random: () => number, count: number, perSecond: number, bursts: WorkloadOptions['bursts']): number[] {
  const peak = perSecond * Math.max(1, bursts.factor);
  const rateAt = (ms: number) => (bursts.everyMs > 0 && ms % bursts.everyMs < bursts.lengthMs ? peak : perSecond);
  const out: number[] = [];
  let now = 0;
  while (out.length < count) {
    now += (-Math.log(1 - random()) / peak) * 1000;
    if (random() < rateAt(now) / peak) out.push(Math.round(now));
  }
  return out;
}

function validate(options: WorkloadOptions): void {
  const ranges: [string, Range][] = [
    ['turns', options.turns],
    ['systemPromptWords', options.systemPromptWords],
    ['userMessageWords', options.userMessageWords],
    ['answerTokens', options.answerTokens],
    ['thinkMs', options.thinkMs],
  ];
  for (const [name, range] of ranges) {
    if (!Number.isInteger(range.min) || !Number.isInteger(range.max) || range.min < 0 || range.max < range.min) throw new Error(`workload ${name}: want integers 0 <= min <= max, got ${JSON.stringify(range)}`);
  }
  if (options.turns.min < 1) throw new Error('workload turns.min: a chat has at least one turn');
  if (options.systemPrompts < 1) throw new Error('workload systemPrompts: at least one');
  if (!(options.arrivalsPerSecond > 0)) throw new Error('workload arrivalsPerSecond: must be above 0');
  if (!Number.isInteger(options.numCtx) || options.numCtx < 1) throw new Error('workload numCtx: a positive integer');
  if (options.chatModels.length === 0 || options.oneShotModels.length === 0) throw new Error('workload chatModels/oneShotModels: name at least one model each');
}

export function generateWorkload(options: WorkloadOptions): Workload {
  validate(options);
  const random = prng(options.seed);
  const words = vocabulary(random);
  const systemPrompts = Array.from({ length: options.systemPrompts }, () => text(random, words, integer(random, options.systemPromptWords)));
  const users = options.chatUsers + options.oneShotUsers;
  const starts = arrivals(random, users, options.arrivalsPerSecond, options.bursts);
  // Which arrivals are chats: a seeded shuffle of the kinds, so one-shot prompts mix into the bursts.
  const kinds: UserScript['kind'][] = [...Array<'chat'>(options.chatUsers).fill('chat'), ...Array<'generate'>(options.oneShotUsers).fill('generate')];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  const scripts = kinds.map((kind, index): UserScript => {
    const chat = kind === 'chat';
    const turnCount = chat ? integer(random, options.turns) : 1;
    const system = chat || random() < 0.5 ? Math.floor(random() * options.systemPrompts) : null;
    return {
      user: `user-${index + 1}`,
      kind,
      model: pick(chat ? options.chatModels : options.oneShotModels),
      startAt: starts[index]!,
      system,
      turns: Array.from({ length: turnCount }, (_, turn) => ({
        pauseMs: turn === 0 ? 0 : integer(random, options.thinkMs),
        content: text(random, words, Math.max(1, integer(random, options.userMessageWords))),
        numPredict: Math.max(1, integer(random, options.answerTokens)),
      })),
    };
  });
  return { systemPrompts, numCtx: options.numCtx, scripts };
}

/**
 * The request of `script`'s turn `turn`, given the answers its earlier turns got and when the last
 * came back (ms after the workload's start). A chat's messages are its system prompt, every earlier
 * turn with the model's real answer, then the new user message.
 */
export function requestFor(workload: Workload, script: UserScript, turn: number, answers: readonly string[], lastAnswerAt: number): TimedRequest {
  const step = script.turns[turn];
  if (!step) throw new Error(`${script.user} has no turn ${turn} (${script.turns.length} turns)`);
  if (answers.length !== turn) throw new Error(`${script.user} turn ${turn}: want ${turn} earlier answers, got ${answers.length}`);
  const at = turn === 0 ? script.startAt : lastAnswerAt + step.pauseMs;
  const system = script.system === null ? undefined : workload.systemPrompts[script.system];
  const options = { num_predict: step.numPredict, num_ctx: workload.numCtx, seed: 0 };
  if (script.kind === 'generate') {
    return { at, user: script.user, turn, path: '/api/generate', body: { model: script.model, prompt: step.content, ...(system ? { system } : {}), keep_alive: -1, options } };
  }
  const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
  script.turns.slice(0, turn).forEach((earlier, i) => messages.push({ role: 'user', content: earlier.content }, { role: 'assistant', content: answers[i]! }));
  messages.push({ role: 'user', content: step.content });
  return { at, user: script.user, turn, path: '/api/chat', body: { model: script.model, messages, keep_alive: -1, options } };
}
