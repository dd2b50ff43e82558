import t from 'tap';
import { LOAD_WINDOW_MS, LoadWindow } from './load-window.js';

t.test('runs count from begin to end, once each', async (t) => {
  const w = new LoadWindow();
  const first = w.begin(0);
  const second = w.begin(0);
  t.equal(w.snapshot(1).running, 2);
  first.end(5);
  first.end(6);
  t.equal(w.snapshot(7).running, 1, 'ending twice ends one run');
  t.equal(w.running, 1, 'the running count reads the same without a snapshot');
  second.end(8);
  t.equal(w.snapshot(9).running, 0);
  t.equal(w.running, 0);
});

t.test('time to first token is the median over the window; 0 with no run in it', async (t) => {
  const w = new LoadWindow(10_000);
  t.equal(w.snapshot(0).ttftMs, 0);
  for (const [start, first] of [[0, 30], [100, 110], [200, 250]] as const) {
    const run = w.begin(start);
    run.token(first);
    run.token(first + 5);
    run.end(first + 10);
  }
  t.equal(w.snapshot(300).ttftMs, 30, 'median of 30, 10 and 50; later tokens do not count');
  const fourth = w.begin(400);
  fourth.token(420);
  t.equal(w.snapshot(500).ttftMs, 25, 'median of an even count is the mean of the middle two');
  t.equal(w.snapshot(10_110).ttftMs, 35, 'the first sample left the window');
  t.equal(w.snapshot(10_420).ttftMs, 0, 'all left the window');
});

t.test('tokens per second over the window, with the engine count topping up tokens not streamed', async (t) => {
  const w = new LoadWindow(LOAD_WINDOW_MS);
  const run = w.begin(0);
  for (let i = 0; i < 50; i++) run.token(1000 + i);
  t.equal(w.snapshot(2000).tokensPerSecond, 50 / (LOAD_WINDOW_MS / 1000));
  run.end(2500, { evalCount: 80 });
  t.equal(w.snapshot(3000).tokensPerSecond, 80 / (LOAD_WINDOW_MS / 1000), 'evalCount 80 counts 30 more');
  const short = w.begin(3000);
  short.token(3100);
  short.end(3200, { evalCount: 0 });
  t.equal(w.snapshot(3300).tokensPerSecond, 81 / (LOAD_WINDOW_MS / 1000), 'an evalCount below the streamed count takes none back');
  t.equal(w.snapshot(2000 + LOAD_WINDOW_MS + 1000).tokensPerSecond, 1 / (LOAD_WINDOW_MS / 1000), 'tokens older than the window are gone');
  run.token(99_999);
  t.equal(w.snapshot(100_000).tokensPerSecond, 0, 'marks after end are ignored');
});

t.test('prompt evaluation speed over the window, from the engine figures of runs that ended', async (t) => {
  const w = new LoadWindow(LOAD_WINDOW_MS);
  t.equal(w.snapshot(0).promptTokensPerSecond, 0, 'nothing measured yet');
  w.begin(0).end(100, { promptEvalCount: 300, promptEvalDuration: 0.1e9 });
  w.begin(0).end(200, { promptEvalCount: 100, promptEvalDuration: 0.1e9 });
  t.equal(w.snapshot(300).promptTokensPerSecond, 2000, '400 tokens in 0.2 s');
  w.begin(0).end(300, { promptEvalCount: 0, promptEvalDuration: 0 });
  t.equal(w.snapshot(400).promptTokensPerSecond, 2000, 'a run that evaluated nothing (all cached) says nothing of the speed');
  t.equal(w.snapshot(150 + LOAD_WINDOW_MS).promptTokensPerSecond, 1000, 'the first run left the window');
});

t.test('model load speed over the last loads, however old; instant loads are not loads', async (t) => {
  const w = new LoadWindow(LOAD_WINDOW_MS);
  t.equal(w.snapshot(0).loadBytesPerSecond, 0);
  w.begin(0).end(10, { modelSize: 4e9, loadDuration: 2e9 });
  w.begin(0).end(20, { modelSize: 1e9, loadDuration: 0.5e6 });
  t.equal(w.snapshot(30).loadBytesPerSecond, 2e9, 'a 0.5 ms load (model already resident) is left out');
  w.begin(0).end(40, { modelSize: 2e9, loadDuration: 2e9 });
  t.equal(w.snapshot(10 * LOAD_WINDOW_MS).loadBytesPerSecond, 1.5e9, '6 GB in 4 s, kept past the window');
  for (let i = 0; i < 8; i++) w.begin(0).end(50 + i, { modelSize: 1e9, loadDuration: 1e9 });
  t.equal(w.snapshot(100).loadBytesPerSecond, 1e9, 'only the last 8 loads count');
});
