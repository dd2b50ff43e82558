// Parity of the WASM score and its TypeScript twin, bit for bit, on seeded random inputs and edge
// cases, plus the Candidate-to-features mapping. Needs `npm run build` (wasm/build/score.wasm).

import t, { type Test } from 'tap';
import type { Candidate } from '../core/contracts/balancer.js';
import { buildOutput } from './build-output.js';
import { prng } from '../conformance/fixtures/prng.js';
import { randomFeatures } from './random-features.js';
import {
  bestCandidateJs,
  bestIndex,
  candidateFeatures,
  FEATURE,
  FEATURE_COUNT,
  loadScoreWasm,
  paramVector,
  scoreCandidatesJs,
  type ScoreWasm,
} from './score.js';

const wasm: ScoreWasm = loadScoreWasm();
const defaults = paramVector();

/** Indices where the two score vectors differ in any bit. */
function mismatches(a: Float64Array, b: Float64Array): number[] {
  const bits = (x: Float64Array) => new BigUint64Array(x.buffer, x.byteOffset, x.length);
  const [left, right] = [bits(a), bits(b)];
  const bad: number[] = [];
  // NaN payloads may differ between engines; any NaN equals any NaN.
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (left[i] !== right[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) bad.push(i);
  return bad;
}

function agree(t: Test, features: Float64Array, n: number, params: Float64Array, label: string): void {
  const js = scoreCandidatesJs(features, n, params);
  const fromWasm = wasm.score(features, n, params);
  t.equal(fromWasm.length, n, `${label}: one score per candidate`);
  t.same(mismatches(fromWasm, js), [], `${label}: same scores, bit for bit`);
  t.equal(wasm.best(features, n, params), bestCandidateJs(features, n, params), `${label}: same best index`);
}

t.test('random inputs, seeded', async (t) => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    t.comment(`seed ${seed}`);
    const random = prng(seed);
    // Sizes climb past the module's first allocation, so its memory grows mid-test.
    for (const n of [2, 7, 64, 1000, 5000, 3]) {
      const features = randomFeatures(random, n);
      agree(t, features, n, defaults, `seed ${seed}, n ${n}, default params`);
      const params = Float64Array.from({ length: defaults.length }, () => (random() < 0.1 ? 0 : random() * 1e4));
      agree(t, features, n, params, `seed ${seed}, n ${n}, random params`);
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
  t.equal(wasm.best(same, 5, defaults), 0, 'a full tie goes to the lowest index');

  same[3 * FEATURE_COUNT + FEATURE.vramFree] += 1;
  agree(t, same, 5, defaults, 'a tie broken by free VRAM');
  t.equal(wasm.best(same, 5, defaults), 3, 'more free VRAM wins a tie');
  same[1 * FEATURE_COUNT + FEATURE.vramFree] += 1;
  same[1 * FEATURE_COUNT + FEATURE.tokensPerSecond] += 1;
  // Tokens/s feeds the estimate too, so keep the queue empty for it to be a pure tie-breaker.
  for (let i = 0; i < 5; i++) same[i * FEATURE_COUNT + FEATURE.ahead] = 0;
  agree(t, same, 5, defaults, 'a tie broken by tokens/s');
  t.equal(wasm.best(same, 5, defaults), 1, 'then more tokens/s wins');

  const zeros = new Float64Array(4 * FEATURE_COUNT);
  agree(t, zeros, 4, defaults, 'all features zero');
  t.same(Array.from(wasm.score(zeros, 4, defaults)), [0, 0, 0, 0], 'an idle, unmeasured node: no wait, no load, no prompt');
  agree(t, randomFeatures(random, 16), 16, new Float64Array(defaults.length), 'all params zero (infinite and NaN estimates)');

  const withNaN = randomFeatures(random, 6);
  withNaN[0 * FEATURE_COUNT + FEATURE.scoreBias] = NaN;
  withNaN[4 * FEATURE_COUNT + FEATURE.ttftMs] = NaN;
  withNaN[4 * FEATURE_COUNT + FEATURE.ahead] = 100;
  agree(t, withNaN, 6, defaults, 'NaN in the inputs');
  t.not(wasm.best(withNaN, 6, defaults), 0, 'a NaN score never wins over a number');

  agree(t, randomFeatures(random, 10), 6, defaults, 'rows beyond n are ignored');
});

t.test('the estimate follows the documented formula', async (t) => {
  const row = (values: Partial<Record<keyof typeof FEATURE, number>>) => {
    const features = new Float64Array(FEATURE_COUNT);
    for (const [name, value] of Object.entries(values)) features[FEATURE[name as keyof typeof FEATURE]] = value;
    return wasm.score(features, 1, paramVector({ outputTokens: 100 }))[0];
  };
  t.equal(row({ ahead: 3, slots: 4 }), -0, 'a free slot: no wait');
  // 2 over the 4 slots plus this one: 3 × (500 + 100·1000·4/200) / 4 = 3 × 2500 / 4.
  t.equal(row({ ahead: 6, slots: 4, ttftMs: 500, tokensPerSecond: 200 }), -1875);
  // One running in the only slot: it frees the slot after 100 tokens at the unmeasured 20 tokens/s.
  t.equal(row({ ahead: 1, slots: 0, tokensPerSecond: 0 }), -5000, '0 slots count as 1; unmeasured speed is 20 tokens/s a slot');
  t.equal(row({ loadBytes: 4e9, loadBytesPerSecond: 2e9 }), -2000, 'load time from the measured speed');
  t.equal(row({ loadBytes: 4e9 }), -4000, 'load time from the default 1 GB/s');
  t.equal(row({ uncachedPromptTokens: 1000, promptTokensPerSecond: 4000 }), -250, 'prefill of the uncached tokens');
  t.equal(row({ uncachedPromptTokens: 1000 }), -2000, 'prefill at the default 500 tokens/s');
  t.equal(row({ uncachedPromptTokens: 1000, scoreBias: 300 }), -1700, 'the bias adds to the score');
});

t.test('scoring in place agrees with copying', async (t) => {
  const random = prng(99);
  const n = 300;
  const features = randomFeatures(random, n);
  const buffers = wasm.buffers(n);
  buffers.features.set(features);
  buffers.params.set(defaults);
  wasm.scoreInPlace(n);
  t.same(mismatches(buffers.scores, scoreCandidatesJs(features, n, defaults)), [], 'same scores');
  t.equal(wasm.bestOf(100, 50), bestIndex(buffers.scores, features, 100, 50), 'best of a slice');
  t.throws(() => wasm.scoreInPlace(1e9), RangeError, 'more candidates than reserved');
});

t.test('an allocation the module cannot make is an error, and the buffers stay usable', async (t) => {
  const own = loadScoreWasm();
  const features = randomFeatures(prng(5), 10);
  own.score(features, 10, defaults);
  t.throws(() => own.buffers(20_000_000), { message: /^score\.wasm aborted: Allocation too large at ~lib\/.+:\d+:\d+$/ });
  t.same(mismatches(own.score(features, 10, defaults), scoreCandidatesJs(features, 10, defaults)), [], 'still scores');
});

t.test('inputs are checked', async (t) => {
  for (const score of [scoreCandidatesJs, wasm.score]) {
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 2, defaults), RangeError, 'too few rows');
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 1, new Float64Array(3)), RangeError, 'short params');
    t.throws(() => score(new Float64Array(FEATURE_COUNT), 0.5, defaults), RangeError, 'fractional count');
  }
});

t.test('candidates become feature rows, odd figures as 0', async (t) => {
  const candidate = (nodeId: string, extra: Partial<Candidate> = {}, load: Partial<Candidate['load']> = {}): Candidate => ({
    nodeId,
    apiUrl: `http://${nodeId}:11434`,
    local: false,
    modelLoaded: false,
    modelRequests: 0,
    modelSize: 5e9,
    labels: {},
    scoreBias: 0,
    load: { activeRequests: 3, queueDepth: 2, tokensPerSecond: 80, gpuUtilization: 0.25, vramFree: 6, vramTotal: 8, slots: 4, ttftMs: 300, promptTokensPerSecond: 900, loadBytesPerSecond: 2e9, ...load },
    ...extra,
  });
  const features = candidateFeatures(
    [candidate('a', { modelLoaded: true, scoreBias: 7 }), candidate('b', { scoreBias: NaN }, { slots: NaN, ttftMs: -1, queueDepth: Infinity }), candidate('c')],
    { promptTokens: 1000, cachedTokens: [256, 2000, 0], inFlight: [9, 0, 1] },
  );
  t.same(Array.from(features), [
    9, 4, 300, 80, 900, 2e9, 0, 744, 7, 6,
    3, 0, 0, 80, 900, 2e9, 5e9, 0, 0, 6,
    5, 4, 300, 80, 900, 2e9, 5e9, 1000, 0, 6,
  ]);
  t.throws(() => candidateFeatures([candidate('a')], {}, new Float64Array(4)), RangeError, 'matrix too small');
});

t.test('a missing build names the fix', async (t) => {
  t.throws(() => buildOutput('wasm/build/nothing.wasm', [new URL('./build/nothing.wasm', import.meta.url)]), {
    code: 'OD_ERR_INTERNAL',
    message: /wasm\/build\/nothing\.wasm is missing .*run "npm run build" first/,
  });
});
