// Runs one completion on a context sequence: reuses the prefix already in its cache, samples token
// by token, streams text cut at stop strings, and ends with Ollama's counts and timings.

import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type SequenceEvaluateOptions, type Token } from 'node-llama-cpp';
import type { DoneReason, Logprob, ModelOptions, RunEvent } from '../../core/contracts/engine.js';
import { evaluateSampling, generationLimit, type Sampling } from './sampling.js';
import { StopStringCutter } from './stop-strings.js';
import { TokenText } from './token-text.js';

export interface CompletionRun {
  sequence: LlamaContextSequence;
  model: LlamaModel;
  prompt: Token[];
  sampling: Sampling;
  options: ModelOptions;
  stopStrings: readonly string[];
  stopTokens: ReadonlySet<Token>;
  grammar?: LlamaGrammar;
  signal: AbortSignal;
  loadDuration: number;
  /** Report prompt + output tokens in the done event, for generate's `context`. */
  returnContext: boolean;
  /** Ollama's logprobs: the chosen token's and `top` alternatives' natural-log probabilities. */
  logprobs?: { top: number };
}

interface Sampled {
  token: Token;
  scored?: Logprob;
}

/** The sampled tokens, each with its log probability when the run asks for them. */
async function* sampled(run: CompletionRun, tokens: Token[], options: SequenceEvaluateOptions): AsyncGenerator<Sampled> {
  const { sequence, model, logprobs } = run;
  if (!logprobs) {
    for await (const token of sequence.evaluate(tokens, options)) yield { token };
    return;
  }
  const piece = (token: Token) => model.detokenize([token], true);
  for await (const next of sequence.evaluateWithMetadata(tokens, { confidence: true, probabilities: logprobs.top > 0 }, options)) {
    const top = logprobs.top > 0 && 'probabilities' in next ? [...(next.probabilities as Map<Token, number>)].slice(0, logprobs.top) : [];
    yield {
      token: next.token,
      scored: {
        token: piece(next.token),
        logprob: Math.log(next.confidence),
        ...(top.length ? { top_logprobs: top.map(([token, p]) => ({ token: piece(token), logprob: Math.log(p) })) } : {}),
      },
    };
  }
}

const elapsed = (since: bigint, until = process.hrtime.bigint()) => Number(until - since);

/**
 * A prompt that fills the context keeps its first token (BOS) and its last half-context, as
 * llama.cpp servers shift context, so there is room left to answer.
 */
export function fitPrompt(tokens: readonly Token[], contextLength: number, bos: Token | null): Token[] {
  if (tokens.length < contextLength) return [...tokens];
  const keep = Math.floor(contextLength / 2);
  return tokens[0] === bos && bos !== null ? [bos, ...tokens.slice(-(keep - 1))] : tokens.slice(-keep);
}

export async function* runCompletion(run: CompletionRun): AsyncGenerator<RunEvent> {
  const { sequence, model, signal } = run;
  const prompt = fitPrompt(run.prompt, sequence.contextSize, model.tokens.bos);
  signal.throwIfAborted();

  // At least one token is evaluated again: sampling needs fresh logits.
  const cached = Math.max(0, Math.min(sequence.compareContextTokens(prompt).firstDifferentIndex, prompt.length - 1));
  if (cached < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: cached, end: sequence.nextTokenIndex }]);
  const fresh = prompt.slice(cached);

  const limit = generationLimit(run.options, sequence.contextSize - prompt.length);
  const generated: Token[] = [];
  const text = new TokenText((tokens, last) => model.detokenize(tokens, false, last));
  const cutter = new StopStringCutter(run.stopStrings);
  const started = process.hrtime.bigint();
  let firstToken: bigint | undefined;
  let doneReason: DoneReason = 'stop';
  // Scores of tokens whose text is still held (an unfinished character, a possible stop string).
  const pending: Logprob[] = [];
  const scores = () => (run.logprobs ? { logprobs: pending.splice(0) } : {});

  if (limit.maxTokens === 0) {
    await sequence.evaluateWithoutGeneratingNewTokens(fresh);
    doneReason = 'length';
  } else {
    // The last prompt token is always evaluated on its own: logits depend on batch shape, and this
    // keeps a seeded request reproducible whether or not its prefix was cached.
    if (fresh.length > 1) await sequence.evaluateWithoutGeneratingNewTokens(fresh.slice(0, -1));
    const tokens = sampled(run, fresh.slice(-1), {
      ...evaluateSampling(run.sampling, () => [...prompt, ...generated]),
      ...(run.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: run.grammar }) } : {}),
    });
    for await (const { token, scored } of tokens) {
      firstToken ??= process.hrtime.bigint();
      signal.throwIfAborted();
      if (run.stopTokens.has(token)) break;
      generated.push(token);
      if (scored) pending.push(scored);
      const scan = cutter.push(text.push(token));
      if (scan.text) yield { type: 'token', text: scan.text, ...scores() };
      if (scan.stopped) break;
      if (generated.length >= limit.maxTokens) {
        doneReason = 'length';
        break;
      }
    }
  }
  if (!cutter.stopped) {
    const scan = cutter.push(text.flush());
    const tail = scan.text + cutter.flush();
    if (scan.stopped) doneReason = 'stop';
    if (tail) yield { type: 'token', text: tail, ...scores() };
  }
  const finished = process.hrtime.bigint();
  firstToken ??= finished;
  yield {
    type: 'done',
    doneReason,
    loadDuration: run.loadDuration,
    // Ollama counts the whole prompt, cached prefix included; the duration covers only what was evaluated.
    promptEvalCount: prompt.length,
    promptEvalDuration: elapsed(started, firstToken),
    evalCount: generated.length,
    evalDuration: elapsed(firstToken, finished),
    ...(run.returnContext ? { context: [...prompt, ...generated] } : {}),
  };
}
