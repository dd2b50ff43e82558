// The score pool against the TypeScript twin, and its lifecycle: idempotent start/stop and no
// worker left behind. Needs `npm run build` (dist/wasm/score-worker.js and wasm/build/score.wasm).

import { availableParallelism } from 'node:os';
import t from 'tap';
import { defaultScoreThreads, scorePool, type Scoring } from './pool.js';
import { prng } from '../conformance/fixtures/prng.js';
import { randomFeatures } from './random-features.js';
import { bestIndex, scoreCandidatesJs, weightVector } from './score.js';

const weights = weightVector({ local: 2 });
const random = prng(2024);
const scorings: Scoring[] = Array.from({ length: 300 }, (_, i) => {
  const n = i % 50 === 0 ? 0 : 1 + Math.floor(random() * 40);
  // Some matrices hold spare rows: only the first n count.
  return { features: randomFeatures(random, n + (i % 3)), n };
});

const workers = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Worker' || resource === 'MessagePort');

for (const implementation of ['wasm', 'js'] as const) {
  t.test(`a ${implementation} pool scores a batch as the twin does`, async (t) => {
    // Two threads and small tasks, so the batch is split and must come back in order.
    const pool = scorePool({ threads: 2, implementation, minScoringsPerTask: 16 });
    t.teardown(() => pool.stop());
    await pool.start();
    const { scores, best } = await pool.scoreBatch({ weights, scorings });

    t.equal(scores.length, scorings.length, 'one result per scoring');
    const wrong = scorings.flatMap(({ features, n }, i) => {
      const twin = scoreCandidatesJs(features, n, weights);
      const same = scores[i]!.length === n && twin.every((score, j) => Math.abs(score - scores[i]![j]!) <= 1e-12);
      return same && best[i] === bestIndex(twin) ? [] : [i];
    });
    t.same(wrong, [], 'same scores and best index for every scoring');
    t.equal(best[0], -1, 'an empty scoring has no best');
  });
}

t.test('lifecycle', async (t) => {
  const before = workers().length;
  const pool = scorePool();
  t.teardown(() => pool.stop());
  await pool.stop();
  t.pass('stop without start resolves');

  await pool.start();
  await pool.start();
  t.ok(workers().length > before, 'workers run once started');
  t.equal(pool.threads, defaultScoreThreads(), 'default threads');
  t.equal(defaultScoreThreads(), Math.max(1, availableParallelism() - 1), 'cores - 1, at least 1');
  const { best } = await pool.scoreBatch({ weights, scorings: scorings.slice(0, 10) });
  t.equal(best.length, 10, 'scores after a second start');
  await pool.stop();
  await pool.stop();
  t.equal(workers().length, before, 'no worker left after stop');
  await t.rejects(pool.scoreBatch({ weights, scorings }), { code: 'OD_ERR_INTERNAL' }, 'a stopped pool refuses work');

  await pool.start();
  const empty = await pool.scoreBatch({ weights, scorings: [] });
  t.same(empty.best, new Int32Array(0), 'restarts; an empty batch is fine');
  await pool.stop();
  t.equal(workers().length, before, 'no worker left after the second stop');
  t.throws(() => scorePool({ threads: 0 }), RangeError, 'threads below 1 are refused');
});
