import t from 'tap';
import { placeVram } from './gpus.js';
import { SIM_DEFAULTS } from './options.js';
import { commonPrefix, PromptCache } from './prompt-cache.js';
import { loadMs, modelMemory, msToNs, promptEvalMs, slowdown, tokenMs } from './timing.js';

const GiB = 2 ** 30;

t.test('slowdown grows by parallel_slowdown per extra busy slot', async (t) => {
  const cases: [busy: number, factor: number, expected: number][] = [
    [0, 0.1, 1],
    [1, 0.1, 1],
    [2, 0.1, 1.1],
    [4, 0.1, 1.3],
    [4, 0, 1],
    [3, 0.5, 2],
  ];
  for (const [busy, parallel_slowdown, expected] of cases) {
    t.equal(slowdown(busy, { parallel_slowdown }), expected, `${busy} busy slots at ${parallel_slowdown}`);
  }
});

t.test('load time is a fixed cost plus size over bandwidth', async (t) => {
  const cases: [size: number, load_ms: number, load_bytes_per_second: number, expected: number][] = [
    [0, 250, 2e9, 250],
    [4e9, 250, 2e9, 2250],
    [1e9, 0, 1e9, 1000],
  ];
  for (const [size, load_ms, load_bytes_per_second, expected] of cases) {
    t.equal(loadMs(size, { load_ms, load_bytes_per_second }), expected, `${size} bytes`);
  }
});

t.test('prompt evaluation costs ttft_ms plus each evaluated token, slowed by busy slots', async (t) => {
  const options = { ttft_ms: 10, prompt_tokens_per_second: 1000, parallel_slowdown: 0.5 };
  const cases: [tokens: number, busy: number, expected: number][] = [
    [0, 1, 10],
    [1, 1, 11],
    [500, 1, 510],
    [500, 3, 1010],
  ];
  for (const [tokens, busy, expected] of cases) t.equal(promptEvalMs(tokens, busy, options), expected, `${tokens} tokens, ${busy} busy`);
});

t.test('a decode step takes 1 / tokens_per_second, slowed by busy slots', async (t) => {
  const cases: [tokensPerSecond: number, busy: number, factor: number, expected: number][] = [
    [50, 1, 0.1, 20],
    [50, 2, 0.1, 22],
    [1000, 4, 0, 1],
  ];
  for (const [tokens_per_second, busy, parallel_slowdown, expected] of cases) {
    t.ok(Math.abs(tokenMs(busy, { tokens_per_second, parallel_slowdown }) - expected) < 1e-9, `${tokens_per_second} tok/s, ${busy} busy`);
  }
  const aggregate = (busy: number) => (busy * 1000) / tokenMs(busy, SIM_DEFAULTS);
  t.ok(aggregate(4) > aggregate(1) && aggregate(4) < 4 * aggregate(1), 'more slots raise throughput, less than linearly');
});

t.test('model memory is the weights plus a KV cache per context token and slot', async (t) => {
  t.equal(modelMemory(GiB, 4096, 1, { kv_bytes_per_token: 1024 }), GiB + 4 * 2 ** 20);
  t.equal(modelMemory(GiB, 4096, 4, { kv_bytes_per_token: 1024 }), GiB + 16 * 2 ** 20);
  t.equal(modelMemory(GiB, 4096, 4, { kv_bytes_per_token: 0 }), GiB);
});

t.test('msToNs rounds to whole nanoseconds', async (t) => {
  t.equal(msToNs(1), 1e6);
  t.equal(msToNs(0.0000004), 0);
  t.equal(msToNs(2.5), 2_500_000);
});

t.test('VRAM placement: one GPU when it fits, else spread, else nothing', async (t) => {
  const cases: [free: number[], bytes: number, expected: number[] | undefined][] = [
    [[10, 20], 15, [0, 15]],
    [[20, 20], 15, [15, 0]],
    [[10, 20], 25, [10, 15]],
    [[10, 20], 31, undefined],
    [[10, 20], 0, [0, 0]],
    [[], 0, []],
    [[], 1, undefined],
  ];
  for (const [free, bytes, expected] of cases) t.same(placeVram(free, bytes), expected, `${bytes} on ${JSON.stringify(free)}`);
});

t.test('the prompt cache finds the longest shared prefix and always leaves one token to evaluate', async (t) => {
  t.equal(commonPrefix([1, 2, 3], [1, 2, 4]), 2);
  t.equal(commonPrefix([], [1]), 0);
  const cache = new PromptCache(2);
  t.equal(cache.cachedPrefix([1, 2, 3]), 0, 'empty cache');
  cache.remember([1, 2, 3, 4]);
  t.equal(cache.cachedPrefix([1, 2, 3, 4, 5]), 4, 'a continuation reuses the whole sequence');
  t.equal(cache.cachedPrefix([1, 2, 3, 4]), 3, 'an identical prompt still evaluates its last token');
  cache.remember([1, 2, 3, 4, 5, 6]);
  cache.remember([7, 8]);
  t.equal(cache.cachedPrefix([1, 2, 3, 4, 5, 6, 9]), 6, 'a continuation replaced what it extended');
  cache.remember([9, 9]);
  t.equal(cache.cachedPrefix([1, 2, 9]), 0, 'the oldest sequence is dropped at capacity');
  t.equal(cache.cachedPrefix([7, 8, 1]), 2, 'newer sequences stay');
  const off = new PromptCache(0);
  off.remember([1, 2, 3]);
  t.equal(off.cachedPrefix([1, 2, 3, 4]), 0, 'capacity 0 caches nothing');
});
