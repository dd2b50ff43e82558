// The adaptive balancer's score in AssemblyScript: each candidate's estimated time to first token,
// computed in this module's linear memory, and the best index picked without crossing into JS per candidate.

// Layout shared with the TypeScript twin in wasm/score.ts: one row of FEATURES f64 per candidate.
const FEATURES: i32 = 10;
const ROW_BYTES: usize = <usize>FEATURES << 3;
const AHEAD: usize = 0 << 3;
const SLOTS: usize = 1 << 3;
const TTFT_MS: usize = 2 << 3;
const TOKENS_PER_SECOND: usize = 3 << 3;
const PROMPT_TOKENS_PER_SECOND: usize = 4 << 3;
const LOAD_BYTES_PER_SECOND: usize = 5 << 3;
const LOAD_BYTES: usize = 6 << 3;
const UNCACHED_PROMPT_TOKENS: usize = 7 << 3;
const SCORE_BIAS: usize = 8 << 3;
const VRAM_FREE: usize = 9 << 3;

// Parameter slots, same order as the twin's paramVector().
const P_LOAD_BYTES_PER_SECOND: usize = 0 << 3;
const P_PROMPT_TOKENS_PER_SECOND: usize = 1 << 3;
const P_SLOT_TOKENS_PER_SECOND: usize = 2 << 3;
const P_OUTPUT_TOKENS: usize = 3 << 3;
const PARAMS: i32 = 4;

const params: usize = memory.data(PARAMS << 3, 16);
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

export function paramsPtr(): usize {
  return params;
}

export function scoresPtr(): usize {
  return scores;
}

/** Scores the first n rows of the feature buffer into the score buffer: bias − estimated TTFT in ms. */
export function scoreAll(n: i32): void {
  if (n > capacity) unreachable();
  const defaultLoadSpeed = load<f64>(params, P_LOAD_BYTES_PER_SECOND);
  const defaultPromptSpeed = load<f64>(params, P_PROMPT_TOKENS_PER_SECOND);
  const defaultSlotSpeed = load<f64>(params, P_SLOT_TOKENS_PER_SECOND);
  const outputTokens = load<f64>(params, P_OUTPUT_TOKENS);
  let row = features;
  let out = scores;
  const end = scores + (<usize>n << 3);
  while (out < end) {
    const slots = max<f64>(1.0, load<f64>(row, SLOTS));
    const measuredTps = load<f64>(row, TOKENS_PER_SECOND);
    const tps = measuredTps > 0.0 ? measuredTps : defaultSlotSpeed * slots;
    // Each of the slots running generates tps/slots tokens a second.
    const serviceMs = load<f64>(row, TTFT_MS) + (outputTokens * 1000.0 * slots) / tps;
    const excess = load<f64>(row, AHEAD) - slots + 1.0;
    const waitMs = excess > 0.0 ? (excess * serviceMs) / slots : 0.0;
    const loadBytes = load<f64>(row, LOAD_BYTES);
    const loadSpeed = load<f64>(row, LOAD_BYTES_PER_SECOND);
    const loadMs = loadBytes > 0.0 ? (loadBytes * 1000.0) / (loadSpeed > 0.0 ? loadSpeed : defaultLoadSpeed) : 0.0;
    const promptSpeed = load<f64>(row, PROMPT_TOKENS_PER_SECOND);
    const prefillMs = (load<f64>(row, UNCACHED_PROMPT_TOKENS) * 1000.0) / (promptSpeed > 0.0 ? promptSpeed : defaultPromptSpeed);
    store<f64>(out, load<f64>(row, SCORE_BIAS) - (waitMs + loadMs + prefillMs));
    row += ROW_BYTES;
    out += 8;
  }
}

/**
 * Index (relative to offset) of the highest of n computed scores: ties go to more free VRAM, then
 * more measured tokens/s, then the lowest index; NaN loses to any number; -1 when n is 0.
 */
export function bestOf(offset: i32, n: i32): i32 {
  if (n <= 0) return -1;
  if (offset < 0 || offset + n > capacity) unreachable();
  const base = scores + (<usize>offset << 3);
  const rows = features + <usize>offset * ROW_BYTES;
  let best: i32 = 0;
  let top = load<f64>(base);
  let topVram = load<f64>(rows, VRAM_FREE);
  let topTps = load<f64>(rows, TOKENS_PER_SECOND);
  for (let i: i32 = 1; i < n; i++) {
    const s = load<f64>(base + (<usize>i << 3));
    const row = rows + <usize>i * ROW_BYTES;
    const vram = load<f64>(row, VRAM_FREE);
    const tps = load<f64>(row, TOKENS_PER_SECOND);
    if (s > top || (top != top && s == s) || (s == top && (vram > topVram || (vram == topVram && tps > topTps)))) {
      top = s;
      topVram = vram;
      topTps = tps;
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
