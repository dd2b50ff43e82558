import t from 'tap';
import type { Candidate } from '../contracts/balancer.js';
import { ProductError } from '../errors.js';
import { roundRobin } from '../../plugins/balancer-round-robin/index.js';
import { Scheduler } from './scheduler.js';

const local: Candidate = {
  nodeId: 'n1',
  apiUrl: 'http://127.0.0.1:11434',
  local: true,
  modelLoaded: true,
  modelSize: 0,
  load: { activeRequests: 0, queueDepth: 0, tokensPerSecond: 0, gpuUtilization: 0, vramFree: 0, vramTotal: 0, slots: 1, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
  labels: {},
  scoreBias: 0,
};
const request = { model: 'tiny:latest', kind: 'generate' as const };

t.test('maxPending requests are admitted; the next is refused with 503 until one finishes', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [local], { maxPending: 2 });
  const first = scheduler.route(request);
  const second = scheduler.route(request);
  t.equal(scheduler.pending, 2);
  const refused = (() => {
    try {
      scheduler.route(request);
    } catch (error) {
      return error;
    }
  })() as ProductError;
  t.ok(refused instanceof ProductError);
  t.equal(refused.status, 503);
  t.equal(refused.message, 'server busy, please try again.  maximum pending requests exceeded');
  t.equal(scheduler.pending, 2, 'a refused request holds no place');

  first.finish('ok');
  first.finish('ok');
  t.equal(scheduler.pending, 1, 'finishing twice frees one place');
  const third = scheduler.route(request);
  t.equal(third.candidate, local);
  second.finish('error');
  third.finish('cancelled');
  t.equal(scheduler.pending, 0, 'every outcome frees its place');
});

t.test('a route may exclude nodes, or keep to this one; with no candidate left it is refused with 503', async (t) => {
  const remote = (nodeId: string): Candidate => ({ ...local, nodeId, apiUrl: `http://${nodeId}`, local: false });
  const scheduler = new Scheduler(roundRobin()(), () => [remote('n2'), local, remote('n3')], { maxPending: 10 });
  const picked = (options: Parameters<Scheduler['route']>[1]) => {
    const route = scheduler.route(request, options);
    route.finish('ok');
    return route.candidate.nodeId;
  };
  const excluded = new Set(['n1', 'n2']);
  for (let i = 0; i < 3; i++) t.equal(picked({ exclude: excluded }), 'n3');
  for (let i = 0; i < 3; i++) t.equal(picked({ localOnly: true }), 'n1');
  const refused = (() => {
    try {
      scheduler.route(request, { exclude: new Set(['n1', 'n2', 'n3']) });
    } catch (error) {
      return error;
    }
  })() as ProductError;
  t.equal(refused.code, 'OD_ERR_NO_NODE');
  t.equal(refused.status, 503);
  t.equal(refused.message, "no node can run model 'tiny:latest' now");
  t.equal(scheduler.pending, 0);
});
