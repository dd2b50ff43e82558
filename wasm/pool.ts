// Worker threads (piscina) that score batches of scorings off the main thread. A batch travels as
// one packed message per task, since per-scoring messages cost more than the scoring itself.

import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { ProductError } from '../core/errors.js';
import type { Startable } from '../core/contracts/plugin.js';
import { buildOutput } from './build-output.js';
import { checkInputs, FEATURE_COUNT, scoreWasmPath, WEIGHT_COUNT } from './score.js';
import type { ScoreImplementation, ScoreTask, ScoreTaskResult } from './score-worker.js';

export type { ScoreImplementation };

export interface ScorePoolOptions {
  /** Worker threads; defaultScoreThreads() when omitted. */
  threads?: number;
  /** What the workers run; 'js' is the twin, kept to measure what WASM wins. */
  implementation?: ScoreImplementation;
  /** Fewest scorings a task carries when a batch is split across threads: messaging must stay small beside the work. */
  minScoringsPerTask?: number;
}

/** One scoring: the first n rows of `features` (FEATURE_COUNT each). */
export interface Scoring {
  features: Float64Array;
  n: number;
}

export interface ScoringBatch {
  weights: Float64Array;
  scorings: readonly Scoring[];
}

export interface BatchScores {
  /** Scores of each scoring's candidates, in batch order. */
  scores: Float64Array[];
  /** Best candidate index of each scoring, -1 for an empty one. */
  best: Int32Array;
}

export interface ScorePool extends Startable {
  readonly threads: number;
  scoreBatch(batch: ScoringBatch, signal?: AbortSignal): Promise<BatchScores>;
}

// Under tap the pool runs from wasm/pool.ts, but piscina needs the compiled worker.
const workerPath = () =>
  buildOutput('dist/wasm/score-worker.js', [
    new URL('./score-worker.js', import.meta.url),
    new URL('../dist/wasm/score-worker.js', import.meta.url),
  ]);

const MODULE_HOOK_FLAGS = ['--import', '--require', '-r', '--loader', '--experimental-loader'];

// Module hooks (a TypeScript loader under tap, say) cost seconds per worker start, and the
// compiled worker needs none; every other flag of this process is kept.
function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    const hook = MODULE_HOOK_FLAGS.find((flag) => arg === flag || arg.startsWith(`${flag}=`));
    if (hook === undefined) kept.push(arg);
    else if (arg === hook) i++;
  }
  return kept;
}

/** Cores − 1, at least 1, so the event loop keeps a core to itself. */
export const defaultScoreThreads = (): number => Math.max(1, availableParallelism() - 1);

export function scorePool({
  threads = defaultScoreThreads(),
  implementation = 'wasm',
  minScoringsPerTask = 64,
}: ScorePoolOptions = {}): ScorePool {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`threads must be a whole number ≥ 1, got ${threads}`);
  }
  let pool: Piscina<ScoreTask, ScoreTaskResult> | undefined;

  const sendTask = (
    running: Piscina<ScoreTask, ScoreTaskResult>,
    weights: Float64Array,
    scorings: readonly Scoring[],
    signal?: AbortSignal,
  ) => {
    const counts = Int32Array.from(scorings, ({ n }) => n);
    const features = new Float64Array(counts.reduce((sum, n) => sum + n, 0) * FEATURE_COUNT);
    let offset = 0;
    for (const { features: rows, n } of scorings) {
      features.set(rows.subarray(0, n * FEATURE_COUNT), offset);
      offset += n * FEATURE_COUNT;
    }
    const taskWeights = weights.slice(0, WEIGHT_COUNT);
    const task: ScoreTask = { weights: taskWeights, counts, features };
    const transferList = [taskWeights.buffer, counts.buffer, features.buffer];
    return running.run(task, { transferList, signal: signal ?? null });
  };

  return {
    threads,
    start() {
      if (pool) return;
      // Checked here too: workers failing to load would be respawned again and again.
      if (implementation === 'wasm') scoreWasmPath();
      pool = new Piscina({
        filename: workerPath(),
        minThreads: threads,
        maxThreads: threads,
        execArgv: workerExecArgv(process.execArgv),
        workerData: { implementation },
      });
    },
    async stop() {
      const stopping = pool;
      pool = undefined;
      await stopping?.destroy();
    },
    async scoreBatch({ weights, scorings }, signal) {
      if (!pool) throw new ProductError('OD_ERR_INTERNAL', 'the score pool is not started');
      for (const { features, n } of scorings) checkInputs(features, n, weights);
      const perTask = Math.max(minScoringsPerTask, Math.ceil(scorings.length / threads));
      const tasks: Promise<ScoreTaskResult>[] = [];
      for (let first = 0; first < scorings.length; first += perTask) {
        tasks.push(sendTask(pool, weights, scorings.slice(first, first + perTask), signal));
      }
      const results = await Promise.all(tasks);
      const scores: Float64Array[] = [];
      const best = new Int32Array(scorings.length);
      let index = 0;
      for (const result of results) {
        let offset = 0;
        for (const i of result.best.keys()) {
          const n = scorings[index].n;
          scores.push(result.scores.subarray(offset, offset + n));
          best[index++] = result.best[i];
          offset += n;
        }
      }
      return { scores, best };
    },
  };
}
