import t from 'tap';
import type { Candidate, RouteRequest } from '../contracts/balancer.js';
import { ProductError } from '../errors.js';
import { roundRobin } from '../../plugins/balancer-round-robin/index.js';
import { Scheduler, type Route } from './scheduler.js';

function node(nodeId: string, fields: Partial<Candidate> = {}, slots = 1): Candidate {
  return {
    nodeId,
    apiUrl: `http://${nodeId}.invalid:11434`,
    local: false,
    modelLoaded: true,
    modelRequests: 0,
    modelSize: 0,
    load: { activeRequests: 0, queueDepth: 0, tokensPerSecond: 0, gpuUtilization: 0, vramFree: 0, vramTotal: 0, slots, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
    labels: {},
    scoreBias: 0,
    ...fields,
  };
}
const request: RouteRequest = { model: 'tiny:latest', kind: 'generate' };
const other: RouteRequest = { model: 'other:latest', kind: 'generate' };

async function refusal(promise: Promise<unknown>): Promise<ProductError> {
  try {
    await promise;
  } catch (error) {
    return error as ProductError;
  }
  throw new Error('not refused');
}

const tick = () => new Promise((r) => setImmediate(r));

/** The routes that started at once; the others still wait. */
async function started(routes: Promise<Route>[]): Promise<Route[]> {
  const out: Route[] = [];
  for (const route of routes) void route.then((r) => out.push(r));
  await tick();
  return out;
}

t.test('with every slot busy requests wait in arrival order; past queueSize they get Ollama\'s 503', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('a'), node('b')], { queueSize: 2 });
  const first = await scheduler.route(request);
  const second = await scheduler.route(request);
  t.same([first.candidate.nodeId, second.candidate.nodeId], ['a', 'b'], 'one slot each, both start at once');
  t.same([first.queuePosition, second.queuePosition], [0, 0]);
  const order: string[] = [];
  const third = scheduler.route(request, { id: 'third' }).then((r) => (order.push('third'), r));
  const fourth = scheduler.route(request, { id: 'fourth' }).then((r) => (order.push('fourth'), r));
  t.same(scheduler.queue().map((e) => [e.id, e.position]), [['third', 1], ['fourth', 2]]);
  const refused = await refusal(scheduler.route(request));
  t.equal(refused.status, 503);
  t.equal(refused.message, 'server busy, please try again.  maximum pending requests exceeded');

  second.finish('ok');
  const thirdRoute = await third;
  t.equal(thirdRoute.candidate.nodeId, 'b', 'the first waiter takes the slot b freed');
  t.equal(thirdRoute.queuePosition, 1);
  await tick();
  t.same(order, ['third'], 'the second waiter still waits');
  first.finish('error');
  t.equal((await fourth).candidate.nodeId, 'a');
  t.same(order, ['third', 'fourth']);
  t.equal(scheduler.queue().length, 0);
  t.equal(scheduler.pending, 2);
});

t.test('a waiting request starts on a node whose gossiped load shows a free slot', async (t) => {
  let busy = 1;
  const scheduler = new Scheduler(roundRobin()(), () => [node('a', { modelRequests: busy })], { queueSize: 5, recheckMs: 5 });
  // The recheck timer does not hold a process open; the test must.
  const open = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(open));
  const waiting = scheduler.route(request);
  t.equal(scheduler.queue().length, 1, 'another node\'s request fills the slot');
  busy = 0;
  t.equal((await waiting).candidate.nodeId, 'a');
});

t.test('where the model is not loaded only the routes of this node fill its slots; slots count per node', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('a', { modelLoaded: false, modelRequests: 9 })], { queueSize: 1 });
  const cold = await started([scheduler.route(request), scheduler.route(request)]);
  t.same(cold.map((r) => r.queuePosition), [0], 'the load starts whatever else runs there; the second waits for it');
  const wide = new Scheduler(roundRobin()(), () => [node('a', {}, 3)], { queueSize: 1 });
  const three = await started([wide.route(request), wide.route(request), wide.route(request), wide.route(request)]);
  t.equal(three.length, 3, 'three slots run three; the fourth waits');
  t.equal(wide.queue().length, 1);
});

t.test('a busy model holds back its own later requests only', async (t) => {
  const holders = (r: RouteRequest) => (r.model === request.model ? [node('a')] : [node('b')]);
  const scheduler = new Scheduler(roundRobin()(), holders, { queueSize: 5 });
  const running = await scheduler.route(request);
  const waiting = scheduler.route(request);
  const otherRoute = await scheduler.route(other);
  t.equal(otherRoute.candidate.nodeId, 'b', 'another model on another node starts at once');
  running.finish('ok');
  t.equal((await waiting).candidate.nodeId, 'a');
});

t.test('a client that leaves while waiting gives up its place', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('a')], { queueSize: 5 });
  const running = await scheduler.route(request);
  const gone = new AbortController();
  const leaving = scheduler.route(request, { signal: gone.signal });
  const staying = scheduler.route(request);
  gone.abort(new Error('left'));
  t.match(await refusal(leaving), { message: 'left' });
  t.same(scheduler.queue().map((e) => e.position), [1], 'the one behind moves up');
  running.finish('cancelled');
  t.equal((await staying).queuePosition, 2, 'it keeps the place it joined at');
});

t.test('a retry (nodes excluded) waits ahead of new requests', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('a'), node('b')], { queueSize: 5 });
  const [onA, onB] = [await scheduler.route(request), await scheduler.route(request)];
  const fresh = scheduler.route(request, { id: 'fresh' });
  const retried = scheduler.route(request, { id: 'retried', exclude: new Set(['c']) });
  t.same(scheduler.queue().map((e) => e.id), ['retried', 'fresh']);
  onA.finish('ok');
  t.equal((await retried).candidate.nodeId, 'a');
  onB.finish('ok');
  t.equal((await fresh).candidate.nodeId, 'b');
});

t.test('an unreachable node cools down, doubling; after the pause one probe goes, and an answer brings it back', async (t) => {
  let now = 0;
  const firstListed = { name: 'first-listed', pickNode: (_r: RouteRequest, list: readonly Candidate[]) => list[0] };
  const scheduler = new Scheduler(firstListed, () => [node('a', {}, 100), node('b', {}, 100)], { queueSize: 5, now: () => now, cooldown: { baseMs: 1000, maxMs: 5000 } });
  const picks = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const route = await scheduler.route(request);
      out.push(route.candidate.nodeId);
      if (route.candidate.nodeId === 'a') route.unreachable();
      else route.finish('ok');
    }
    return out;
  };
  const [first] = [await scheduler.route(request)];
  t.equal(first.candidate.nodeId, 'a');
  first.unreachable();
  t.equal(scheduler.routingStats().get('a')?.coolingUntil, 1000);
  t.same(await picks(4), ['b', 'b', 'b', 'b'], 'a is out for 1 s');
  now = 1000;
  t.same(await picks(4), ['a', 'b', 'b', 'b'], 'one probe after the pause; it fails');
  t.equal(scheduler.routingStats().get('a')?.coolingUntil, 3000, 'the second pause is 2 s');
  now = 3000;
  const probe = await scheduler.route(request);
  t.equal(probe.candidate.nodeId, 'a');
  t.equal((await scheduler.route(request)).candidate.nodeId, 'b', 'no second request while the probe is out');
  probe.answered();
  t.equal(scheduler.routingStats().get('a')?.coolingUntil, undefined);
  const stats = scheduler.routingStats().get('a')!;
  t.same([stats.routed, stats.failed, stats.lastRoutedAt], [3, 2, 3000]);
});

t.test('when every holder cools down one is tried rather than refusing', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('a', {}, 9)], { queueSize: 5 });
  (await scheduler.route(request)).unreachable();
  t.equal((await scheduler.route(request)).candidate.nodeId, 'a');
});

t.test('excluded nodes are not picked; with none left the request is refused with 503', async (t) => {
  const scheduler = new Scheduler(roundRobin()(), () => [node('n2'), node('n1', { local: true }), node('n3')], { queueSize: 10 });
  for (let i = 0; i < 3; i++) {
    const route = await scheduler.route(request, { exclude: new Set(['n1', 'n2']) });
    t.equal(route.candidate.nodeId, 'n3');
    route.finish('ok');
  }
  const here = scheduler.routeHere(request);
  t.equal(here.candidate.nodeId, 'n1', 'routeHere keeps to this node');
  here.finish('ok');
  const refused = await refusal(scheduler.route(request, { exclude: new Set(['n1', 'n2', 'n3']) }));
  t.equal(refused.code, 'OD_ERR_NO_NODE');
  t.equal(refused.status, 503);
  t.equal(refused.message, "no node can run model 'tiny:latest' now");
  t.equal(scheduler.pending, 0, 'finishing twice frees one place; every outcome frees its place');
});

t.test('scoreNode taps set each candidate\'s bias before the balancer picks', async (t) => {
  const scheduler = new Scheduler(
    { name: 'highest-bias', pickNode: (_r, list) => [...list].sort((x, y) => y.scoreBias - x.scoreBias)[0] },
    () => [node('a'), node('b')],
    { queueSize: 1 },
  );
  scheduler.hooks.scoreNode.tap('prefer-b', (bias, c) => bias + (c.nodeId === 'b' ? 5 : 0));
  t.equal((await scheduler.route(request)).candidate.nodeId, 'b');
});

t.test('announced load is brought up to now with the routes this node began and ended since', async (t) => {
  let now = 50;
  const seen: Record<string, number>[] = [];
  const scheduler = new Scheduler(
    {
      name: 'recorder',
      pickNode: (_r, list) => (seen.push(Object.fromEntries(list.map((c) => [c.nodeId, c.load.activeRequests]))), list[0]),
    },
    // a announced at 100 the two routes this node had begun there at 50; b one of another node's.
    () => [
      { ...node('a', { modelRequests: now < 100 ? 0 : 2 }, 4), loadAt: now < 100 ? 0 : 100, load: { ...node('a').load, slots: 4, activeRequests: now < 100 ? 0 : 2 } },
      { ...node('b', { modelRequests: 1 }, 4), loadAt: 100, load: { ...node('b').load, slots: 4, activeRequests: 1 } },
    ],
    { queueSize: 1, now: () => now },
  );
  const first = await scheduler.route(request);
  const second = await scheduler.route(request);
  now = 150;
  first.finish('ok');
  second.finish('ok');
  now = 200;
  await scheduler.route(request);
  t.same(seen.at(-1), { a: 0, b: 1 }, 'the two that ended after the announcement come off a; b keeps what another node sent it');
  await scheduler.route(request);
  t.same(seen.at(-1), { a: 1, b: 1 }, 'a route begun after the announcement goes on');
});
