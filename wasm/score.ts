// The scheduling score: a candidate's load figures as one row of a feature matrix, scored by the
// WASM module (wasm/assembly/score.ts) or by its plain TypeScript twin, which must agree exactly.

import { readFile } from 'node:fs/promises';
import type { Candidate } from '../core/contracts/balancer.js';
import { buildOutput } from './build-output.js';

/** Column of each feature in a candidate's row; the last slot is reserved and ignored. */
export const FEATURE = {
  activeRequests: 0,
  queueDepth: 1,
  tokensPerSecond: 2,
  gpuUtilization: 3,
  vramFreeFraction: 4,
  modelLoaded: 5,
  local: 6,
  reserved: 7,
} as const;
export const FEATURE_COUNT = 8;

/**
 * score = modelLoaded·loaded + local·isLocal + vramFree·vramFreeFraction
 *       + throughput·tps/(tps + throughputHalf)            (0 when tps ≤ 0)
 *       − activeRequest·active − queuedRequest·queued − gpuUtilization·utilization
 * Higher is better. Throughput saturates so that one fast node cannot outweigh every penalty.
 */
export interface ScoreWeights {
  /** Penalty per request running on the node. */
  activeRequest: number;
  /** Penalty per request waiting there; higher than a running one, since it waits for a slot. */
  queuedRequest: number;
  /** Reward for throughput, reached as tokens/s grows far above `throughputHalf`. */
  throughput: number;
  /** Tokens/s at which the throughput reward is half of `throughput`. */
  throughputHalf: number;
  /** Penalty for GPU utilization (0..1). */
  gpuUtilization: number;
  /** Reward for the free share of VRAM (0..1). */
  vramFree: number;
  /** Reward for a model already loaded: loading one takes seconds. */
  modelLoaded: number;
  /** Reward for the node that took the request: no forwarding hop. */
  local: number;
}

export const DEFAULT_SCORE_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({
  activeRequest: 1,
  queuedRequest: 2,
  throughput: 2,
  throughputHalf: 50,
  gpuUtilization: 1,
  vramFree: 1,
  modelLoaded: 4,
  local: 0.5,
});

// Slot order of the weight vector, shared with wasm/assembly/score.ts.
const WEIGHT_ORDER = [
  'activeRequest',
  'queuedRequest',
  'throughput',
  'throughputHalf',
  'gpuUtilization',
  'vramFree',
  'modelLoaded',
  'local',
] as const satisfies readonly (keyof ScoreWeights)[];
export const WEIGHT_COUNT = WEIGHT_ORDER.length;

/** The weight vector both implementations take, from named weights over the defaults. */
export function weightVector(weights: Partial<ScoreWeights> = {}): Float64Array {
  const all = { ...DEFAULT_SCORE_WEIGHTS, ...weights };
  return Float64Array.from(WEIGHT_ORDER, (name) => all[name]);
}

/** Writes one feature row per candidate into `into` (a new matrix when omitted). */
export function candidateFeatures(
  candidates: readonly Candidate[],
  into: Float64Array = new Float64Array(candidates.length * FEATURE_COUNT),
): Float64Array {
  if (into.length < candidates.length * FEATURE_COUNT) {
    throw new RangeError(`feature matrix holds ${into.length / FEATURE_COUNT} rows, ${candidates.length} needed`);
  }
  candidates.forEach(({ load, modelLoaded, local }, i) => {
    const row = i * FEATURE_COUNT;
    into[row + FEATURE.activeRequests] = load.activeRequests;
    into[row + FEATURE.queueDepth] = load.queueDepth;
    into[row + FEATURE.tokensPerSecond] = load.tokensPerSecond;
    into[row + FEATURE.gpuUtilization] = load.gpuUtilization;
    into[row + FEATURE.vramFreeFraction] =
      load.vramTotal > 0 ? Math.min(Math.max(load.vramFree / load.vramTotal, 0), 1) : 0;
    into[row + FEATURE.modelLoaded] = modelLoaded ? 1 : 0;
    into[row + FEATURE.local] = local ? 1 : 0;
    into[row + FEATURE.reserved] = 0;
  });
  return into;
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`candidate count must be a whole number ≥ 0, got ${n}`);
}

/** Throws a RangeError unless `features` holds n rows and `weights` a full weight vector. */
export function checkInputs(features: Float64Array, n: number, weights: Float64Array): void {
  checkCount(n);
  if (features.length < n * FEATURE_COUNT) {
    throw new RangeError(`feature matrix holds ${features.length / FEATURE_COUNT} rows, ${n} needed`);
  }
  if (weights.length < WEIGHT_COUNT) {
    throw new RangeError(`weight vector needs ${WEIGHT_COUNT} slots, got ${weights.length}`);
  }
}

/** The TypeScript twin of the WASM scoreAll: the same arithmetic in the same order, so the same bits. */
export function scoreCandidatesJs(features: Float64Array, n: number, weights: Float64Array): Float64Array {
  checkInputs(features, n, weights);
  const wActive = weights[0];
  const wQueued = weights[1];
  const wThroughput = weights[2];
  const throughputHalf = weights[3];
  const wGpu = weights[4];
  const wVram = weights[5];
  const wLoaded = weights[6];
  const wLocal = weights[7];
  const scores = new Float64Array(n);
  for (let i = 0, row = 0; i < n; i++, row += FEATURE_COUNT) {
    const tps = features[row + FEATURE.tokensPerSecond];
    const throughput = tps > 0 ? tps / (tps + throughputHalf) : 0;
    scores[i] =
      wLoaded * features[row + FEATURE.modelLoaded] +
      wLocal * features[row + FEATURE.local] +
      wVram * features[row + FEATURE.vramFreeFraction] +
      wThroughput * throughput -
      wActive * features[row + FEATURE.activeRequests] -
      wQueued * features[row + FEATURE.queueDepth] -
      wGpu * features[row + FEATURE.gpuUtilization];
  }
  return scores;
}

/**
 * Index (relative to `offset`) of the highest of `n` scores: ties go to the lowest index, NaN
 * loses to any number, -1 when n is 0. The twin of the WASM bestOf.
 */
export function bestIndex(scores: Float64Array, offset = 0, n = scores.length - offset): number {
  if (n <= 0) return -1;
  let best = 0;
  let top = scores[offset];
  for (let i = 1; i < n; i++) {
    const s = scores[offset + i];
    if (s > top || (Number.isNaN(top) && !Number.isNaN(s))) {
      top = s;
      best = i;
    }
  }
  return best;
}

/** The twin of the WASM best: index of the best of n candidates, -1 when n is 0. */
export function bestCandidateJs(features: Float64Array, n: number, weights: Float64Array): number {
  return bestIndex(scoreCandidatesJs(features, n, weights));
}

/** Views over the module's linear memory, valid until a call needs room for more candidates. */
export interface ScoreBuffers {
  /** n rows of FEATURE_COUNT features. */
  readonly features: Float64Array;
  readonly weights: Float64Array;
  /** n scores, written by scoreInPlace. */
  readonly scores: Float64Array;
}

export interface ScoreWasm {
  /** Copies the inputs into linear memory and returns a copy of the scores. */
  score(features: Float64Array, n: number, weights: Float64Array): Float64Array;
  best(features: Float64Array, n: number, weights: Float64Array): number;
  /** Room for n candidates, to fill in place: no copy on the way in. */
  buffers(n: number): ScoreBuffers;
  /** Scores the first n rows already in `buffers`. */
  scoreInPlace(n: number): void;
  /** Like bestIndex, over the scores the last scoring left in linear memory. */
  bestOf(offset: number, n: number): number;
}

interface ScoreExports {
  memory: { readonly buffer: ArrayBuffer };
  reserve(n: number): void;
  featuresPtr(): number;
  weightsPtr(): number;
  scoresPtr(): number;
  scoreAll(n: number): void;
  bestOf(offset: number, n: number): number;
}

/** Path of the compiled module; throws, naming the fix, when the build has not run. */
export const scoreWasmPath = (): string =>
  buildOutput('wasm/build/score.wasm', [
    new URL('./build/score.wasm', import.meta.url),
    new URL('../../wasm/build/score.wasm', import.meta.url),
  ]);

// The ES2023 lib this project compiles against declares no WebAssembly: the part used here.
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: Record<string, Record<string, unknown>>): Promise<{ exports: unknown }>;
}
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WasmApi };

let compiled: Promise<object> | undefined;

/** A fresh instance (its own linear memory) of wasm/build/score.wasm; the binary is compiled once per thread. */
export async function loadScoreWasm(): Promise<ScoreWasm> {
  compiled ??= readFile(scoreWasmPath()).then((bytes) => wasmApi.compile(bytes));
  let memory: ScoreExports['memory'] | undefined;
  // AssemblyScript strings: UTF-16 code units, byte length in the 4 bytes before the pointer.
  const text = (ptr: number) => {
    if (ptr === 0 || !memory) return '';
    const units = new Uint32Array(memory.buffer, ptr - 4, 1)[0] >>> 1;
    return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, units));
  };
  const instance = await wasmApi.instantiate(await compiled, {
    env: {
      abort(message: number, file: number, line: number, column: number) {
        throw new Error(`score.wasm aborted: ${text(message)} at ${text(file)}:${line}:${column}`);
      },
    },
  });
  const exports = instance.exports as unknown as ScoreExports;
  memory = exports.memory;
  return scoreWasm(exports);
}

function scoreWasm(exports: ScoreExports): ScoreWasm {
  let capacity = 0;
  let features: Float64Array;
  let weights: Float64Array;
  let scores: Float64Array;
  // Growing may grow the memory, which detaches every view over the old buffer.
  const mapViews = () => {
    const { buffer } = exports.memory;
    features = new Float64Array(buffer, exports.featuresPtr() >>> 0, capacity * FEATURE_COUNT);
    weights = new Float64Array(buffer, exports.weightsPtr() >>> 0, WEIGHT_COUNT);
    scores = new Float64Array(buffer, exports.scoresPtr() >>> 0, capacity);
  };
  const reserve = (n: number) => {
    if (n <= capacity) return;
    exports.reserve(n);
    capacity = n;
    mapViews();
  };
  const copyIn = (input: Float64Array, n: number, inputWeights: Float64Array) => {
    checkInputs(input, n, inputWeights);
    reserve(n);
    features.set(input.subarray(0, n * FEATURE_COUNT));
    weights.set(inputWeights.subarray(0, WEIGHT_COUNT));
  };
  mapViews();

  return {
    score(input, n, inputWeights) {
      copyIn(input, n, inputWeights);
      exports.scoreAll(n);
      return scores.slice(0, n);
    },
    best(input, n, inputWeights) {
      copyIn(input, n, inputWeights);
      exports.scoreAll(n);
      return exports.bestOf(0, n);
    },
    buffers(n) {
      checkCount(n);
      reserve(n);
      return { features: features.subarray(0, n * FEATURE_COUNT), weights, scores: scores.subarray(0, n) };
    },
    scoreInPlace(n) {
      checkCount(n);
      if (n > capacity) throw new RangeError(`room for ${capacity} candidates, ${n} asked: call buffers(n) first`);
      exports.scoreAll(n);
    },
    bestOf(offset, n) {
      if (offset < 0 || offset + n > capacity) {
        throw new RangeError(`scores ${offset}..${offset + n} are outside the ${capacity} in memory`);
      }
      return exports.bestOf(offset, n);
    },
  };
}
