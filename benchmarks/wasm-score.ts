// Scheduling-score throughput: the TypeScript twin, the WASM module (inputs already in linear
// memory, or copied in per call) and the worker pool, each beside the twin measured in the same run.

import { pathToFileURL } from 'node:url';
import { defaultScoreThreads, scorePool, type ScoreImplementation } from '../wasm/pool.js';
import { prng } from '../conformance/fixtures/prng.js';
import { randomFeatures } from '../wasm/random-features.js';
import { bestCandidateJs, loadScoreWasm, weightVector } from '../wasm/score.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface WasmScoreBenchOptions {
  /** Candidates per scoring; one row set per size. 1,000 matches the stack notes, 16 a typical cluster. */
  candidates?: readonly number[];
  /** Measuring time per row (split into samples), after a warm-up of a fifth of it. */
  durationMs?: number;
  /** Scorings per pool batch. */
  scoringsPerBatch?: number;
  threads?: number;
}

const UNIT = 'scorings/s';
// Each figure is the median of several samples; the variants of one size take turns, so load from
// elsewhere on the machine falls on all of them alike.
const SAMPLES = 5;

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;

/** Scorings per second of each synchronous variant, measured in turns after a warm-up. */
function syncRates(variants: readonly (() => number)[], durationMs: number): number[] {
  let sink = 0;
  const sample = (scoring: () => number, ms: number) => {
    let count = 0;
    let elapsed = 0;
    const start = performance.now();
    while (elapsed < ms) {
      for (let i = 0; i < 64; i++) sink += scoring();
      count += 64;
      elapsed = performance.now() - start;
    }
    return (count * 1000) / elapsed;
  };
  for (const variant of variants) sample(variant, durationMs / 5);
  const samples = variants.map((): number[] => []);
  for (let round = 0; round < SAMPLES; round++) {
    variants.forEach((variant, i) => samples[i]!.push(sample(variant, durationMs / SAMPLES)));
  }
  // Keeps the results observable so no engine can drop the work.
  if (sink === Number.MIN_VALUE) console.log(sink);
  return samples.map(median);
}

/** Scorings per second through the pool, keeping two batches per thread in flight so no worker idles. */
async function poolRate(
  implementation: ScoreImplementation,
  features: Float64Array,
  n: number,
  { durationMs, scoringsPerBatch, threads }: Required<Omit<WasmScoreBenchOptions, 'candidates'>>,
): Promise<number> {
  const pool = scorePool({ threads, implementation, minScoringsPerTask: scoringsPerBatch });
  await pool.start();
  try {
    const scorings = Array.from({ length: scoringsPerBatch }, () => ({ features, n }));
    const batch = { weights: weightVector(), scorings };
    const sample = async (ms: number) => {
      let done = 0;
      const start = performance.now();
      const lane = async () => {
        while (performance.now() - start < ms) {
          await pool.scoreBatch(batch);
          done += scoringsPerBatch;
        }
      };
      await Promise.all(Array.from({ length: threads * 2 }, lane));
      return (done * 1000) / (performance.now() - start);
    };
    await sample(durationMs / 5);
    const samples: number[] = [];
    for (let round = 0; round < SAMPLES; round++) samples.push(await sample(durationMs / SAMPLES));
    return median(samples);
  } finally {
    await pool.stop();
  }
}

export async function run(options: WasmScoreBenchOptions = {}): Promise<BenchmarkRow[]> {
  const settings = {
    durationMs: options.durationMs ?? 1000,
    scoringsPerBatch: options.scoringsPerBatch ?? 256,
    threads: options.threads ?? defaultScoreThreads(),
  };
  const wasm = await loadScoreWasm();
  const weights = weightVector();
  const rows: BenchmarkRow[] = [];
  for (const n of options.candidates ?? [1000, 16]) {
    const features = randomFeatures(prng(n), n);
    const inMemory = wasm.buffers(n);
    inMemory.features.set(features);
    inMemory.weights.set(weights);

    const [baseline, inLinearMemory, copied] = syncRates(
      [
        () => bestCandidateJs(features, n, weights),
        () => {
          wasm.scoreInPlace(n);
          return wasm.bestOf(0, n);
        },
        () => wasm.best(features, n, weights),
      ],
      settings.durationMs,
    ) as [number, number, number];
    const row = (name: string, value: number) =>
      rows.push({ name: `${name} (${n} candidates)`, value, unit: UNIT, baseline, baselineName: 'js twin', ratio: value / baseline, better: 'higher' });
    row('js twin', baseline);
    row('wasm, inputs in linear memory', inLinearMemory);
    row('wasm, inputs copied per call', copied);
    for (const implementation of ['wasm', 'js'] as const) {
      row(
        `pool ${implementation}, ${settings.threads} thread(s), ${settings.scoringsPerBatch} scorings/task`,
        await poolRate(implementation, features, n, settings),
      );
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
