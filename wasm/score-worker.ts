// A worker thread of the score pool (wasm/pool.ts): scores a whole batch of scorings per task, so
// one message pays for many scorings instead of one.

import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { bestIndex, loadScoreWasm, scoreCandidatesJs } from './score.js';

export type ScoreImplementation = 'wasm' | 'js';

/** Scorings packed end to end: scoring i has counts[i] candidate rows in `features`, all share `weights`. */
export interface ScoreTask {
  weights: Float64Array;
  counts: Int32Array;
  features: Float64Array;
}

/** Every candidate's score in task order, and the best index within each scoring. */
export interface ScoreTaskResult {
  scores: Float64Array;
  best: Int32Array;
}

interface BatchScorer {
  score(features: Float64Array, n: number, weights: Float64Array): Float64Array;
  bestOf(scores: Float64Array, offset: number, n: number): number;
}

const { implementation } = workerData as { implementation: ScoreImplementation };
const wasm = implementation === 'wasm' ? await loadScoreWasm() : undefined;
const scorer: BatchScorer = wasm
  ? { score: wasm.score, bestOf: (_scores, offset, n) => wasm.bestOf(offset, n) }
  : { score: scoreCandidatesJs, bestOf: bestIndex };

export default function scoreTask({ weights, counts, features }: ScoreTask): ReturnType<typeof move> {
  const total = counts.reduce((sum, n) => sum + n, 0);
  // Scoring is per candidate, so the whole batch is one scoring call; only the best is per scoring.
  const scores = scorer.score(features, total, weights);
  const best = new Int32Array(counts.length);
  let offset = 0;
  counts.forEach((n, i) => {
    best[i] = scorer.bestOf(scores, offset, n);
    offset += n;
  });
  const result: ScoreTaskResult = { scores, best };
  return move({ [transferableSymbol]: [scores.buffer, best.buffer], [valueSymbol]: result });
}
