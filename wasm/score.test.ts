// Parity of the WASM score and its TypeScript twin on seeded random inputs and edge cases, plus
// the Candidate-to-features mapping. Needs `npm run build` (wasm/build/score.wasm).

import t, { type Test } from 'tap';
import type { Candidate } from '../core/contracts/balancer.js';
import { buildOutput } from './build-output.js';
import { prng } from '../conformance/fixtures/prng.js';
import { randomFeatures } from './random-features.js';
import {
  bestCandidateJs,
  bestIndex,
  candidateFeatures,
  FEATURE_COUNT,
  loadScoreWasm,
  scoreCandidatesJs,
  weightVector,
  type ScoreWasm,
} from './score.js';

const wasm: ScoreWasm = await loadScoreWasm();
const defaults = weightVector();

/** Indices where the two score vectors differ by more than 1e-12 (NaN equals NaN). */
function mismatches(a: Float64Array, b: Float64Array): number[] {
  const bad: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (!(Object.is(a[i], b[i]) || Math.abs(a[i] - b[i]) <= 1e-12)) bad.push(i);
  }
  return bad;
}

function agree(t: Test, features: Float64Array, n: number, weights: Float64Array, label: string): void {
  const js = scoreCandidatesJs(features, n, weights);
  const fromWasm = wasm.score(features, n, weights);
  t.equal(fromWasm.length, n, `${label}: one score per candidate`);
  t.same(mismatches(fromWasm, js), [], `${label}: same scores`);
  t.equal(wasm.best(features, n, weights), bestCandidateJs(features, n, weights), `${label}: same best index`);
}

t.test('random inputs, seeded', async (t) => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const random = prng(seed);
    // Sizes climb past the module's first allocation, so its memory grows mid-test.
    for (const n of [2, 7, 64, 1000, 5000, 3]) {
      const features = randomFeatures(random, n);
      agree(t, features, n, defaults, `seed ${seed}, n ${n}, default weights`);
      const weights = Float64Array.from({ length: defaults.length }, () => random() * 10);
      agree(t, features, n, weights, `seed ${seed}, n ${n}, random weights`);
    }
  }
});

t.test('edge cases', async (t) => {
  const random = prng(7);
  const row = randomFeatures(random, 1);

  agree(t, new Float64Array(0), 0, defaults, 'n = 0');
  t.equal(wasm.best(new Float64Array(0), 0, defaults), -1, 'no candidate, no best');

  agree(t, row, 1, defaults, 'n = 1');
  t.equal(wasm.best(row, 1, defaults), 0, 'a lone candidate is the best');

  const same = new Float64Array(5 * FEATURE_COUNT);
  for (let i = 0; i < 5; i++) same.set(row, i * FEATURE_COUNT);
  agree(t, same, 5, defaults, 'identical candidates');
  t.equal(wasm.best(same, 5, defaults), 0, 'a tie goes to the lowest index');

  const tiedLater = randomFeatures(random, 8);
  const strong = new Float64Array([0, 0, 300, 0, 1, 1, 1, 0]);
  tiedLater.set(strong, 3 * FEATURE_COUNT);
  tiedLater.set(strong, 6 * FEATURE_COUNT);
  agree(t, tiedLater, 8, defaults, 'two tied leaders');
  t.equal(wasm.best(tiedLater, 8, defaults), 3, 'the first of two tied leaders wins');

  const zeros = new Float64Array(4 * FEATURE_COUNT);
  agree(t, zeros, 4, defaults, 'all features zero');
  agree(t, randomFeatures(random, 4), 4, new Float64Array(defaults.length), 'all weights zero');
  t.same(Array.from(wasm.score(zeros, 4, new Float64Array(defaults.length))), [0, 0, 0, 0], 'zero in, zero out');
  t.equal(wasm.best(zeros, 4, defaults), 0, 'all-equal scores pick index 0');

  const noThroughputHalf = weightVector({ throughputHalf: 0 });
  agree(t, randomFeatures(random, 16), 16, noThroughputHalf, 'throughputHalf = 0');

  const withNaN = randomFeatures(random, 6);
  withNaN[0 * FEATURE_COUNT] = NaN;
  withNaN[4 * FEATURE_COUNT] = NaN;
  agree(t, withNaN, 6, defaults, 'NaN in the inputs');
  t.not(wasm.best(withNaN, 6, defaults), 0, 'a NaN score never wins over a number');

  const longer = randomFeatures(random, 10);
  agree(t, longer, 6, defaults, 'rows beyond n are ignored');
});

t.test('scoring in place agrees with copying', async (t) => {
  const random = prng(99);
  const n = 300;
  const features = randomFeatures(random, n);
  const buffers = wasm.buffers(n);
  buffers.features.set(features);
  buffers.weights.set(defaults);
  wasm.scoreInPlace(n);
  t.same(mismatches(buffers.scores, scoreCandidatesJs(features, n, defaults)), [], 'same scores');
  t.equal(wasm.bestOf(100, 50), bestIndex(buffers.scores, 100, 50), 'best of a slice');
  t.throws(() => wasm.scoreInPlace(1e9), RangeError, 'more candidates than reserved');
});

t.test('an allocation the module cannot make is an error, and the buffers stay usable', async (t) => {
  const own = await loadScoreWasm();
  const features = randomFeatures(prng(5), 10);
  own.score(features, 10, defaults);
  t.throws(() => own.buffers(20_000_000), {
    message: /^score\.wasm aborted: Allocation too large at ~lib\/.+:\d+:\d+$/,
  });
  t.same(mismatches(own.score(features, 10, defaults), scoreCandidatesJs(features, 10, defaults)), [], 'still scores');
});

t.test('inputs are checked', async (t) => {
  for (const score of [scoreCandidatesJs, wasm.score]) {
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 2, defaults), RangeError, 'too few rows');
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 1, new Float64Array(3)), RangeError, 'short weights');
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 0.5, defaults), RangeError, 'fractional count');
  }
});

t.test('candidates become feature rows', async (t) => {
  const candidate = (nodeId: string, vramFree: number, vramTotal: number, extra: Partial<Candidate> = {}) => ({
    nodeId,
    apiUrl: `http://${nodeId}:11434`,
    local: false,
    modelLoaded: false,
    modelRequests: 0,
    modelSize: 0,
    labels: {},
    scoreBias: 0,
    load: { activeRequests: 3, queueDepth: 2, tokensPerSecond: 80, gpuUtilization: 0.25, vramFree, vramTotal, slots: 1, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
    ...extra,
  });
  const features = candidateFeatures([
    candidate('a', 6, 8, { local: true, modelLoaded: true }),
    candidate('b', 0, 0),
    candidate('c', 9, 8),
  ]);
  t.same(Array.from(features), [
    3, 2, 80, 0.25, 0.75, 1, 1, 0,
    3, 2, 80, 0.25, 0, 0, 0, 0,
    3, 2, 80, 0.25, 1, 0, 0, 0,
  ]);
  t.throws(() => candidateFeatures([candidate('a', 1, 2)], new Float64Array(4)), RangeError, 'matrix too small');
});

t.test('a missing build names the fix', async (t) => {
  t.throws(() => buildOutput('wasm/build/nothing.wasm', [new URL('./build/nothing.wasm', import.meta.url)]), {
    code: 'OD_ERR_INTERNAL',
    message: /wasm\/build\/nothing\.wasm is missing .*run "npm run build" first/,
  });
});
