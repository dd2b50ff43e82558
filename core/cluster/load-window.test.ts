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
  run.end(2500, 80);
  t.equal(w.snapshot(3000).tokensPerSecond, 80 / (LOAD_WINDOW_MS / 1000), 'evalCount 80 counts 30 more');
  const short = w.begin(3000);
  short.token(3100);
  short.end(3200, 0);
  t.equal(w.snapshot(3300).tokensPerSecond, 81 / (LOAD_WINDOW_MS / 1000), 'an evalCount below the streamed count takes none back');
  t.equal(w.snapshot(2000 + LOAD_WINDOW_MS + 1000).tokensPerSecond, 1 / (LOAD_WINDOW_MS / 1000), 'tokens older than the window are gone');
  run.token(99_999);
  t.equal(w.snapshot(100_000).tokensPerSecond, 0, 'marks after end are ignored');
});
