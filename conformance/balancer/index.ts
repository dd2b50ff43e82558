// The conformance suite every balancer plugin runs: the Balancer contract's invariants. A
// third-party balancer feeds its factory in from a test file of its own.

import type { Test } from 'tap';
import type { Balancer, Candidate, RouteRequest } from '../../core/contracts/balancer.js';

export function candidate(nodeId: string, activeRequests = 0, local = false): Candidate {
  return {
    nodeId,
    apiUrl: `http://${nodeId}.invalid:11434`,
    local,
    modelLoaded: true,
    modelRequests: activeRequests,
    modelSize: 0,
    load: { activeRequests, queueDepth: 0, tokensPerSecond: 0, gpuUtilization: 0, vramFree: 0, vramTotal: 0, slots: 1, ttftMs: 0, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
    labels: {},
    scoreBias: 0,
  };
}

const REQUEST: RouteRequest = { model: 'tiny:latest', kind: 'generate' };

export function balancerConformance(t: Test, create: () => Balancer | Promise<Balancer>): void {
  t.test('returns undefined when there is no candidate', async (t) => {
    const balancer = await create();
    t.equal(balancer.pickNode(REQUEST, []), undefined);
  });

  t.test('returns one of the candidates, the same object', async (t) => {
    const balancer = await create();
    const candidates = [candidate('a', 3), candidate('b', 1, true), candidate('c', 2)];
    for (let i = 0; i < 50; i++) {
      const pick = balancer.pickNode(REQUEST, candidates);
      t.ok(candidates.includes(pick!), `pick ${i} is a given candidate`);
    }
  });

  t.test('a single candidate is always picked', async (t) => {
    const balancer = await create();
    const only = candidate('only', 100);
    for (let i = 0; i < 5; i++) t.equal(balancer.pickNode(REQUEST, [only]), only);
  });

  t.test('started and finished pair up under concurrency without breaking picks', async (t) => {
    const balancer = await create();
    const candidates = [candidate('a'), candidate('b')];
    const picks = Array.from({ length: 20 }, () => balancer.pickNode(REQUEST, candidates)!);
    for (const pick of picks) balancer.started?.(pick.nodeId, REQUEST);
    for (const pick of picks) balancer.finished?.(pick.nodeId, REQUEST, 'ok');
    t.ok(candidates.includes(balancer.pickNode(REQUEST, candidates)!), 'still picks a candidate afterwards');
  });

  t.test('has a name', async (t) => {
    const balancer = await create();
    t.ok(typeof balancer.name === 'string' && balancer.name.length > 0);
  });
}
