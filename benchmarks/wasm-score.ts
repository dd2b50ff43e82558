// The adaptive balancer's score: the WASM module (inputs already in linear memory, or copied in per
// call) and the whole pickNode (rows filled from Candidates), each in ns per pick beside the
// TypeScript twin measured in the same run.

import { pathToFileURL } from 'node:url';
import type { Candidate } from '../core/contracts/balancer.js';
import { adaptive } from '../plugins/balancer-adaptive/index.js';
import { prng } from '../conformance/fixtures/prng.js';
import { randomFeatures } from '../wasm/random-features.js';
import { bestCandidateJs, FEATURE, FEATURE_COUNT, loadScoreWasm, paramVector } from '../wasm/score.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface WasmScoreBenchOptions {
  /** Candidates per pick; one row set per size. 1,000 matches the stack notes, 16 a typical cluster. */
  candidates?: readonly number[];
  /** Measuring time per row (split into samples), after a warm-up of a fifth of it. */
  durationMs?: number;
}

const UNIT = 'ns/pick';
// Each figure is the median of several samples; the variants of one size take turns, so load from
// elsewhere on the machine falls on all of them alike.
const SAMPLES = 5;

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;

/** Nanoseconds per pick of each variant, measured in turns after a warm-up. */
function nsPerPick(variants: readonly (() => number)[], durationMs: number): number[] {
  let sink = 0;
  const sample = (pick: () => number, ms: number) => {
    let count = 0;
    let elapsed = 0;
    const start = performance.now();
    while (elapsed < ms) {
      for (let i = 0; i < 64; i++) sink += pick();
      count += 64;
      elapsed = performance.now() - start;
    }
    return (elapsed * 1e6) / count;
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

/** Candidates carrying the figures of a random feature matrix, for the whole pickNode. */
function candidatesOf(features: Float64Array, n: number): Candidate[] {
  return Array.from({ length: n }, (_, i) => {
    const f = (column: number) => features[i * FEATURE_COUNT + column]!;
    return {
      nodeId: `node-${i}`,
      apiUrl: `http://node-${i}.invalid:11434`,
      local: i === 0,
      modelLoaded: f(FEATURE.loadBytes) === 0,
      modelRequests: f(FEATURE.ahead),
      modelSize: f(FEATURE.loadBytes),
      labels: {},
      scoreBias: f(FEATURE.scoreBias),
      load: {
        activeRequests: f(FEATURE.ahead),
        queueDepth: 0,
        tokensPerSecond: f(FEATURE.tokensPerSecond),
        gpuUtilization: 0,
        vramFree: f(FEATURE.vramFree),
        vramTotal: 80e9,
        slots: Math.max(1, f(FEATURE.slots)),
        ttftMs: f(FEATURE.ttftMs),
        promptTokensPerSecond: f(FEATURE.promptTokensPerSecond),
        loadBytesPerSecond: f(FEATURE.loadBytesPerSecond),
      },
    };
  });
}

export async function run(options: WasmScoreBenchOptions = {}): Promise<BenchmarkRow[]> {
  const durationMs = options.durationMs ?? 1000;
  const wasm = loadScoreWasm();
  const params = paramVector();
  const rows: BenchmarkRow[] = [];
  for (const n of options.candidates ?? [1000, 16]) {
    const features = randomFeatures(prng(n), n);
    const scores = new Float64Array(n);
    const inMemory = wasm.buffers(n);
    inMemory.features.set(features);
    inMemory.params.set(params);
    const balancer = adaptive()();
    const candidates = candidatesOf(features, n);
    const request = { model: 'm', kind: 'chat', promptTokens: 2000, promptBlocks: ['a', 'b', 'c'] } as const;

    const [baseline, inLinearMemory, copied, whole] = nsPerPick(
      [
        () => bestCandidateJs(features, n, params, scores),
        () => {
          wasm.scoreInPlace(n);
          return wasm.bestOf(0, n);
        },
        () => wasm.best(features, n, params),
        () => balancer.pickNode(request, candidates)!.scoreBias,
      ],
      durationMs,
    ) as [number, number, number, number];
    const row = (name: string, value: number) =>
      rows.push({ name: `${name} (${n} candidates)`, value, unit: UNIT, baseline, baselineName: 'js twin', ratio: value / baseline, better: 'lower' });
    row('js twin', baseline);
    row('wasm, inputs in linear memory', inLinearMemory);
    row('wasm, inputs copied per call', copied);
    row('adaptive pickNode (rows from candidates, prefix lookup, wasm)', whole);
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
