// Runs one completion on a context sequence: reuses the prefix already in its cache, samples token
// by token, streams text cut at stop strings, and ends with Ollama's counts and timings.

import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from 'node-llama-cpp';
import type { DoneReason, ModelOptions, RunEvent } from '../../core/contracts/engine.js';
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

  if (limit.maxTokens === 0) {
    await sequence.evaluateWithoutGeneratingNewTokens(fresh);
    doneReason = 'length';
  } else {
    // The last prompt token is always evaluated on its own: logits depend on batch shape, and this
    // keeps a seeded request reproducible whether or not its prefix was cached.
    if (fresh.length > 1) await sequence.evaluateWithoutGeneratingNewTokens(fresh.slice(0, -1));
    const tokens = sequence.evaluate(fresh.slice(-1), {
      ...evaluateSampling(run.sampling, () => [...prompt, ...generated]),
      ...(run.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: run.grammar }) } : {}),
    });
    for await (const token of tokens) {
      firstToken ??= process.hrtime.bigint();
      signal.throwIfAborted();
      if (run.stopTokens.has(token)) break;
      generated.push(token);
      const scan = cutter.push(text.push(token));
      if (scan.text) yield { type: 'token', text: scan.text };
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
    if (tail) yield { type: 'token', text: tail };
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
