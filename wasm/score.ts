// The adaptive balancer's score: a candidate's figures as one row of a feature matrix, turned into
// an estimated time to first token by the WASM module (wasm/assembly/score.ts) or by its plain
// TypeScript twin, which must agree bit for bit.

import { readFileSync } from 'node:fs';
import type { Candidate } from '../core/contracts/balancer.js';
import { buildOutput } from './build-output.js';

/** Column of each feature in a candidate's row. */
export const FEATURE = {
  /** Requests running or queued there, counting those routed since its last gossip. */
  ahead: 0,
  slots: 1,
  ttftMs: 2,
  tokensPerSecond: 3,
  promptTokensPerSecond: 4,
  loadBytesPerSecond: 5,
  /** Bytes a load must read first: modelSize when the model is not resident, else 0. */
  loadBytes: 6,
  /** Prompt tokens the node's cache does not hold. */
  uncachedPromptTokens: 7,
  scoreBias: 8,
  vramFree: 9,
} as const;
export const FEATURE_COUNT = 10;

/**
 * Stand-ins for figures a node has not measured yet, and the one assumption about the answer.
 *
 * With s = max(1, slots), tps = tokensPerSecond or slotTokensPerSecond·s when 0:
 *   serviceMs = ttftMs + outputTokens·1000·s / tps        (one request's time in a slot)
 *   waitMs    = max(0, ahead − s + 1)·serviceMs / s        (a slot frees every serviceMs/s)
 *   loadMs    = loadBytes·1000 / (loadBytesPerSecond or loadBytesPerSecond param)
 *   prefillMs = uncachedPromptTokens·1000 / (promptTokensPerSecond or promptTokensPerSecond param)
 *   score     = scoreBias − (waitMs + loadMs + prefillMs)   (higher is better; bias in ms)
 */
export interface ScoreParams {
  /** Model load speed of a node that has not measured one: a local NVMe into VRAM. */
  loadBytesPerSecond: number;
  /** Prompt evaluation speed of a node that has not measured one. */
  promptTokensPerSecond: number;
  /** Generation speed of one slot on a node that has not measured one. */
  slotTokensPerSecond: number;
  /** Tokens a request ahead is assumed to generate before it frees its slot. */
  outputTokens: number;
}

export const DEFAULT_SCORE_PARAMS: Readonly<ScoreParams> = Object.freeze({
  loadBytesPerSecond: 1e9,
  promptTokensPerSecond: 500,
  slotTokensPerSecond: 20,
  outputTokens: 256,
});

// Slot order of the parameter vector, shared with wasm/assembly/score.ts.
const PARAM_ORDER = ['loadBytesPerSecond', 'promptTokensPerSecond', 'slotTokensPerSecond', 'outputTokens'] as const satisfies readonly (keyof ScoreParams)[];
export const PARAM_COUNT = PARAM_ORDER.length;

/** The parameter vector both implementations take, from named parameters over the defaults. */
export function paramVector(params: Partial<ScoreParams> = {}): Float64Array {
  const all = { ...DEFAULT_SCORE_PARAMS, ...params };
  return Float64Array.from(PARAM_ORDER, (name) => all[name]);
}

/** A gossiped figure as the score reads it: anything but a finite positive number is 0 (unmeasured). */
const figure = (value: number): number => (Number.isFinite(value) && value > 0 ? value : 0);

export interface RequestFigures {
  /** Estimated tokens of the request's prompt; 0 when unknown. */
  promptTokens?: number;
  /** Per candidate, prompt tokens its cache already holds. */
  cachedTokens?: ArrayLike<number>;
  /** Per candidate, requests routed there that its gossip may not count yet. */
  inFlight?: ArrayLike<number>;
}

/** Writes one feature row per candidate into `into` (a new matrix when omitted). */
export function candidateFeatures(
  candidates: readonly Candidate[],
  { promptTokens = 0, cachedTokens, inFlight }: RequestFigures = {},
  into: Float64Array = new Float64Array(candidates.length * FEATURE_COUNT),
): Float64Array {
  if (into.length < candidates.length * FEATURE_COUNT) {
    throw new RangeError(`feature matrix holds ${into.length / FEATURE_COUNT} rows, ${candidates.length} needed`);
  }
  const prompt = figure(promptTokens);
  for (let i = 0, row = 0; i < candidates.length; i++, row += FEATURE_COUNT) {
    const { load, modelLoaded, modelSize, scoreBias } = candidates[i];
    into[row + FEATURE.ahead] = Math.max(figure(load.activeRequests) + figure(load.queueDepth), figure(inFlight?.[i] ?? 0));
    into[row + FEATURE.slots] = figure(load.slots);
    into[row + FEATURE.ttftMs] = figure(load.ttftMs);
    into[row + FEATURE.tokensPerSecond] = figure(load.tokensPerSecond);
    into[row + FEATURE.promptTokensPerSecond] = figure(load.promptTokensPerSecond);
    into[row + FEATURE.loadBytesPerSecond] = figure(load.loadBytesPerSecond);
    into[row + FEATURE.loadBytes] = modelLoaded ? 0 : figure(modelSize);
    into[row + FEATURE.uncachedPromptTokens] = Math.max(0, prompt - figure(cachedTokens?.[i] ?? 0));
    into[row + FEATURE.scoreBias] = Number.isFinite(scoreBias) ? scoreBias : 0;
    into[row + FEATURE.vramFree] = figure(load.vramFree);
  }
  return into;
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`candidate count must be a whole number ≥ 0, got ${n}`);
}

/** Throws a RangeError unless `features` holds n rows and `params` a full parameter vector. */
export function checkInputs(features: Float64Array, n: number, params: Float64Array): void {
  checkCount(n);
  if (features.length < n * FEATURE_COUNT) {
    throw new RangeError(`feature matrix holds ${features.length / FEATURE_COUNT} rows, ${n} needed`);
  }
  if (params.length < PARAM_COUNT) throw new RangeError(`parameter vector needs ${PARAM_COUNT} slots, got ${params.length}`);
}

/** The TypeScript twin of the WASM scoreAll: the same arithmetic in the same order, so the same bits. */
export function scoreCandidatesJs(features: Float64Array, n: number, params: Float64Array, into = new Float64Array(n)): Float64Array {
  checkInputs(features, n, params);
  const defaultLoadSpeed = params[0];
  const defaultPromptSpeed = params[1];
  const defaultSlotSpeed = params[2];
  const outputTokens = params[3];
  for (let i = 0, row = 0; i < n; i++, row += FEATURE_COUNT) {
    const slots = Math.max(1, features[row + FEATURE.slots]);
    const measuredTps = features[row + FEATURE.tokensPerSecond];
    const tps = measuredTps > 0 ? measuredTps : defaultSlotSpeed * slots;
    const serviceMs = features[row + FEATURE.ttftMs] + (outputTokens * 1000 * slots) / tps;
    const excess = features[row + FEATURE.ahead] - slots + 1;
    const waitMs = excess > 0 ? (excess * serviceMs) / slots : 0;
    const loadBytes = features[row + FEATURE.loadBytes];
    const loadSpeed = features[row + FEATURE.loadBytesPerSecond];
    const loadMs = loadBytes > 0 ? (loadBytes * 1000) / (loadSpeed > 0 ? loadSpeed : defaultLoadSpeed) : 0;
    const promptSpeed = features[row + FEATURE.promptTokensPerSecond];
    const prefillMs = (features[row + FEATURE.uncachedPromptTokens] * 1000) / (promptSpeed > 0 ? promptSpeed : defaultPromptSpeed);
    into[i] = features[row + FEATURE.scoreBias] - (waitMs + loadMs + prefillMs);
  }
  return into;
}

/**
 * Index (relative to `offset`) of the highest of `n` scores: ties go to more free VRAM, then more
 * measured tokens/s, then the lowest index; NaN loses to any number; -1 when n is 0. The twin of
 * the WASM bestOf.
 */
export function bestIndex(scores: Float64Array, features: Float64Array, offset = 0, n = scores.length - offset): number {
  if (n <= 0) return -1;
  let best = 0;
  let top = scores[offset];
  let topVram = features[offset * FEATURE_COUNT + FEATURE.vramFree];
  let topTps = features[offset * FEATURE_COUNT + FEATURE.tokensPerSecond];
  for (let i = 1; i < n; i++) {
    const s = scores[offset + i];
    const row = (offset + i) * FEATURE_COUNT;
    const vram = features[row + FEATURE.vramFree];
    const tps = features[row + FEATURE.tokensPerSecond];
    if (s > top || (Number.isNaN(top) && !Number.isNaN(s)) || (s === top && (vram > topVram || (vram === topVram && tps > topTps)))) {
      top = s;
      topVram = vram;
      topTps = tps;
      best = i;
    }
  }
  return best;
}

/** The twin of the WASM best: index of the best of n candidates, -1 when n is 0. */
export function bestCandidateJs(features: Float64Array, n: number, params: Float64Array, scores = new Float64Array(n)): number {
  return bestIndex(scoreCandidatesJs(features, n, params, scores), features, 0, n);
}

/** Views over the module's linear memory, valid until a call needs room for more candidates. */
export interface ScoreBuffers {
  /** n rows of FEATURE_COUNT features. */
  readonly features: Float64Array;
  readonly params: Float64Array;
  /** n scores, written by scoreInPlace. */
  readonly scores: Float64Array;
}

export interface ScoreWasm {
  /** Copies the inputs into linear memory and returns a copy of the scores. */
  score(features: Float64Array, n: number, params: Float64Array): Float64Array;
  best(features: Float64Array, n: number, params: Float64Array): number;
  /** Room for n candidates, to fill in place: no copy on the way in. */
  buffers(n: number): ScoreBuffers;
  /** Scores the first n rows already in `buffers`. */
  scoreInPlace(n: number): void;
  /** Like bestIndex, over the rows and scores in linear memory. */
  bestOf(offset: number, n: number): number;
}

interface ScoreExports {
  memory: { readonly buffer: ArrayBuffer };
  reserve(n: number): void;
  featuresPtr(): number;
  paramsPtr(): number;
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
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WasmApi };

let compiled: object | undefined;

/**
 * A fresh instance (its own linear memory) of wasm/build/score.wasm, made synchronously so a
 * balancer can build one in its factory; the 2 KB binary is compiled once per thread.
 */
export function loadScoreWasm(): ScoreWasm {
  compiled ??= new wasmApi.Module(readFileSync(scoreWasmPath()));
  let memory: ScoreExports['memory'] | undefined;
  // AssemblyScript strings: UTF-16 code units, byte length in the 4 bytes before the pointer.
  const text = (ptr: number) => {
    if (ptr === 0 || !memory) return '';
    const units = new Uint32Array(memory.buffer, ptr - 4, 1)[0] >>> 1;
    return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, units));
  };
  const instance = new wasmApi.Instance(compiled, {
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
  let params: Float64Array;
  let scores: Float64Array;
  // Growing may grow the memory, which detaches every view over the old buffer.
  const mapViews = () => {
    const { buffer } = exports.memory;
    features = new Float64Array(buffer, exports.featuresPtr() >>> 0, capacity * FEATURE_COUNT);
    params = new Float64Array(buffer, exports.paramsPtr() >>> 0, PARAM_COUNT);
    scores = new Float64Array(buffer, exports.scoresPtr() >>> 0, capacity);
  };
  const reserve = (n: number) => {
    if (n <= capacity) return;
    exports.reserve(n);
    capacity = n;
    mapViews();
  };
  const copyIn = (input: Float64Array, n: number, inputParams: Float64Array) => {
    checkInputs(input, n, inputParams);
    reserve(n);
    features.set(input.subarray(0, n * FEATURE_COUNT));
    params.set(inputParams.subarray(0, PARAM_COUNT));
  };
  mapViews();

  return {
    score(input, n, inputParams) {
      copyIn(input, n, inputParams);
      exports.scoreAll(n);
      return scores.slice(0, n);
    },
    best(input, n, inputParams) {
      copyIn(input, n, inputParams);
      exports.scoreAll(n);
      return exports.bestOf(0, n);
    },
    buffers(n) {
      checkCount(n);
      reserve(n);
      return { features: features.subarray(0, n * FEATURE_COUNT), params, scores: scores.subarray(0, n) };
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
