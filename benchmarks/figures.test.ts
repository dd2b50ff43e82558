import t from 'tap';
import { rows as failoverRows, type Trial } from './failover.js';
import { figures, rows as simRows, type Outcome } from './sim-cluster.js';

const outcome = (over: Partial<Outcome>): Outcome => ({ user: 'u', turn: 0, sentAt: 0, firstTokenMs: 100, doneAt: 500, evalCount: 10, promptEvalMs: 50, servedBy: 'node-1', error: undefined, answer: 'a', ...over });

t.test('sim-cluster figures: failures left out of the means, shares per node, round_robin the baseline', async (t) => {
  const rr = figures('round_robin', [outcome({ firstTokenMs: 100 }), outcome({ firstTokenMs: 300, servedBy: 'node-3' }), outcome({ error: 'boom', evalCount: 99 })], 2000);
  t.match(rr, { ttftMeanMs: 200, tokensPerSecond: 10, promptEvalSeconds: 0.1, failed: 1, requests: 3, servedShare: { 'node-1': 0.5, 'node-3': 0.5 } });
  const lc = figures('least_connections', [outcome({ firstTokenMs: 50 }), outcome({ firstTokenMs: 50 })], 1000);
  const table = simRows([rr, lc]);
  const mean = table.find((r) => r.name === 'least_connections: time to first token, mean')!;
  t.match(mean, { value: 50, baseline: 200, baselineName: 'round_robin', ratio: 0.25 });
  t.match(table.find((r) => r.name.startsWith('least_connections: requests failed'))!, { value: 0, baseline: 1, ratio: 0 });
  t.throws(() => simRows([lc]), /round_robin run as its baseline/);
});

const trial = (over: Partial<Trial>): Trial => ({ unhealthyMs: 1300, lastRoutedMs: undefined, coolingMs: undefined, routedAfterKill: undefined, lastServedMs: -5, lastDelayedSentMs: 1000, slowestAfterKillMs: 1400, medianBeforeMs: 13, failed: 0, requests: 100, ...over });

t.test('failover rows use routing.last_routed_at where node-1 reports it, the client side otherwise', async (t) => {
  const client = failoverRows('SIGSTOP', [trial({}), trial({ lastDelayedSentMs: 1200 }), trial({})]);
  t.ok(client.some((r) => /X-Served-By/.test(r.name) && r.value === -5), 'X-Served-By fallback');
  t.ok(client.some((r) => /waited on it/.test(r.name) && r.value === 1000 && r.baseline === 2000), 'delayed-request fallback, median beside the failure timeout');
  t.notOk(client.some((r) => /last_routed_at/.test(r.name)));
  const server = failoverRows('SIGKILL', [trial({ lastRoutedMs: 40, coolingMs: 2000, routedAfterKill: 1 })]);
  t.match(server[0], { name: /last routed a request to it \(routing\.last_routed_at\)/, value: 40, ratio: 0.02 });
  t.ok(server.some((r) => /cooling_until/.test(r.name) && r.value === 2000), 'cooling row');
  t.ok(server.some((r) => /routed to the dead holder after it died/.test(r.name) && r.value === 1), 'routed-after row');
  t.notOk(server.some((r) => /X-Served-By/.test(r.name)), 'no client fallback when the server reports routing');
});
