// The scheduling score in AssemblyScript: candidates' load figures live in this module's linear
// memory, are scored in place and the best index is picked without crossing into JS per candidate.

// Layout shared with the TypeScript twin in wasm/score.ts: one row of FEATURES f64 per candidate.
const FEATURES: i32 = 8;
const ROW_BYTES: usize = <usize>FEATURES << 3;
const ACTIVE_REQUESTS: usize = 0 << 3;
const QUEUE_DEPTH: usize = 1 << 3;
const TOKENS_PER_SECOND: usize = 2 << 3;
const GPU_UTILIZATION: usize = 3 << 3;
const VRAM_FREE_FRACTION: usize = 4 << 3;
const MODEL_LOADED: usize = 5 << 3;
const LOCAL: usize = 6 << 3;

// Weight slots, same order as the twin's weightVector().
const W_ACTIVE_REQUEST: usize = 0 << 3;
const W_QUEUED_REQUEST: usize = 1 << 3;
const W_THROUGHPUT: usize = 2 << 3;
const W_THROUGHPUT_HALF: usize = 3 << 3;
const W_GPU_UTILIZATION: usize = 4 << 3;
const W_VRAM_FREE: usize = 5 << 3;
const W_MODEL_LOADED: usize = 6 << 3;
const W_LOCAL: usize = 7 << 3;
const WEIGHTS: i32 = 8;

const weights: usize = memory.data(WEIGHTS << 3, 16);
let capacity: i32 = 0;
// One block: `capacity` feature rows, then `capacity` scores.
let features: usize = 0;
let scores: usize = 0;

/** Makes room for n candidates; earlier contents of the feature and score buffers are lost when it grows. */
export function reserve(n: i32): void {
  if (n <= capacity) return;
  const grown = max(n, capacity << 1);
  // Allocated before the old block is freed, so a failed allocation leaves the buffers intact.
  const block = heap.alloc(<usize>grown * (ROW_BYTES + 8));
  if (features != 0) heap.free(features);
  features = block;
  scores = features + <usize>grown * ROW_BYTES;
  capacity = grown;
}

export function featuresPtr(): usize {
  return features;
}

export function weightsPtr(): usize {
  return weights;
}

export function scoresPtr(): usize {
  return scores;
}

/** Scores the first n rows of the feature buffer into the score buffer. */
export function scoreAll(n: i32): void {
  if (n > capacity) unreachable();
  const wActive = load<f64>(weights, W_ACTIVE_REQUEST);
  const wQueued = load<f64>(weights, W_QUEUED_REQUEST);
  const wThroughput = load<f64>(weights, W_THROUGHPUT);
  const throughputHalf = load<f64>(weights, W_THROUGHPUT_HALF);
  const wGpu = load<f64>(weights, W_GPU_UTILIZATION);
  const wVram = load<f64>(weights, W_VRAM_FREE);
  const wLoaded = load<f64>(weights, W_MODEL_LOADED);
  const wLocal = load<f64>(weights, W_LOCAL);
  let row = features;
  let out = scores;
  const end = scores + (<usize>n << 3);
  while (out < end) {
    const tps = load<f64>(row, TOKENS_PER_SECOND);
    // Saturating, so one very fast node cannot outweigh every penalty.
    const throughput = tps > 0.0 ? tps / (tps + throughputHalf) : 0.0;
    const score =
      wLoaded * load<f64>(row, MODEL_LOADED) +
      wLocal * load<f64>(row, LOCAL) +
      wVram * load<f64>(row, VRAM_FREE_FRACTION) +
      wThroughput * throughput -
      wActive * load<f64>(row, ACTIVE_REQUESTS) -
      wQueued * load<f64>(row, QUEUE_DEPTH) -
      wGpu * load<f64>(row, GPU_UTILIZATION);
    store<f64>(out, score);
    row += ROW_BYTES;
    out += 8;
  }
}

/**
 * Index (relative to offset) of the highest of n computed scores: ties go to the lowest index,
 * NaN loses to any number, -1 when n is 0.
 */
export function bestOf(offset: i32, n: i32): i32 {
  if (n <= 0) return -1;
  if (offset < 0 || offset + n > capacity) unreachable();
  const base = scores + (<usize>offset << 3);
  let best: i32 = 0;
  let top = load<f64>(base);
  for (let i: i32 = 1; i < n; i++) {
    const s = load<f64>(base + (<usize>i << 3));
    if (s > top || (top != top && s == s)) {
      top = s;
      best = i;
    }
  }
  return best;
}

/** Scores n candidates and returns the index of the best. */
export function best(n: i32): i32 {
  scoreAll(n);
  return bestOf(0, n);
}
