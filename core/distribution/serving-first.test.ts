// The rate copies may fetch at, as tables of inference figures in and rates out, and the baseline
// the figures are compared with.

import t from 'tap';
import { MIB } from './chunk-map.js';
import { copyRate, FLOOR_RATE, nextBaseline, type CopyRateInput, type ServingBaseline, type ServingFigures } from './serving-first.js';

const baseline: ServingBaseline = { ttftMs: 100, tokenRate: 50 };
const busy = (ttftMs: number, tokensPerSecond: number, running = 1): ServingFigures => ({ running, ttftMs, tokensPerSecond });

t.test('copyRate: halved while inference is slower than its baseline, restored when it recovers', async (t) => {
  const cases: [string, Partial<CopyRateInput> & Pick<CopyRateInput, 'figures'>, number][] = [
    ['idle inference runs copies at the cap', { cap: 100 * MIB, current: 10 * MIB, figures: busy(0, 0, 0) }, 100 * MIB],
    ['idle inference without a cap lifts it', { cap: 0, current: 10 * MIB, figures: busy(0, 0, 0) }, 0],
    ['inference at its baseline runs at the cap', { cap: 100 * MIB, current: 10 * MIB, figures: busy(105, 50) }, 100 * MIB],
    ['twice the time to first token halves the cap', { cap: 100 * MIB, current: 100 * MIB, figures: busy(200, 50) }, 50 * MIB],
    ['halved again while still slow', { cap: 100 * MIB, current: 50 * MIB, figures: busy(200, 50) }, 25 * MIB],
    ['a token rate per run down to a third halves it', { cap: 100 * MIB, current: 40 * MIB, figures: busy(100, 50, 3) }, 20 * MIB],
    ['never below the floor', { cap: 100 * MIB, current: FLOOR_RATE + 1, figures: busy(300, 10) }, FLOOR_RATE],
    ['a cap under the floor still holds', { cap: MIB, current: MIB, figures: busy(300, 10) }, MIB],
    ['uncapped, the cut starts from what copies fetched', { cap: 0, current: 0, fetchedRate: 60 * MIB, figures: busy(200, 50) }, 30 * MIB],
    ['uncapped and nothing fetched: nothing to cut', { cap: 0, current: 0, fetchedRate: 0, figures: busy(200, 50) }, 0],
    ['a little slower holds the rate where it is', { cap: 100 * MIB, current: 25 * MIB, figures: busy(130, 50) }, 25 * MIB],
    ['without a baseline nothing is slowed', { cap: 100 * MIB, current: 100 * MIB, figures: busy(500, 1), baseline: undefined }, 100 * MIB],
  ];
  for (const [what, input, expected] of cases) t.equal(copyRate({ cap: 0, current: 0, fetchedRate: 0, baseline, ...input }), expected, what);
});

t.test('nextBaseline: learnt while no copy runs, the first figures taken whatever runs', async (t) => {
  const cases: [string, ServingBaseline | undefined, ServingFigures, boolean, ServingBaseline | undefined][] = [
    ['no run: nothing learnt', undefined, busy(0, 0, 0), false, undefined],
    ['the first figures, even while copying', undefined, busy(200, 40, 2), true, { ttftMs: 200, tokenRate: 20 }],
    ['while copying the baseline stays', baseline, busy(400, 10), true, baseline],
    ['without copies it moves a fifth of the way', baseline, busy(200, 100), false, { ttftMs: 120, tokenRate: 60 }],
    ['an idle window leaves it', baseline, busy(0, 0, 0), false, baseline],
  ];
  for (const [what, before, figures, copying, expected] of cases) t.same(nextBaseline(before, figures, copying), expected, what);
});
