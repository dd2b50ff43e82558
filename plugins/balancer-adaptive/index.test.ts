import t from 'tap';
import { balancerConformance, candidate } from '../../conformance/balancer/index.js';
import type { Candidate, NodeLoad, RouteRequest } from '../../core/contracts/balancer.js';
import { prng } from '../../conformance/fixtures/prng.js';
import { promptBlocks } from '../../core/scheduler/prompt-blocks.js';
import { randomFeatures } from '../../wasm/random-features.js';
import { bestCandidateJs, candidateFeatures, paramVector } from '../../wasm/score.js';
import { adaptive, hasLoadFigures } from './index.js';

balancerConformance(t, () => adaptive()());
t.test('with random as the fallback', async (t) => balancerConformance(t, () => adaptive({ load_balancing: 'random' })()));

const node = (nodeId: string, load: Partial<NodeLoad> = {}, extra: Partial<Candidate> = {}): Candidate => ({
  ...candidate(nodeId),
  load: { ...candidate(nodeId).load, slots: 2, tokensPerSecond: 50, promptTokensPerSecond: 1000, ...load },
  ...extra,
});
const REQUEST: RouteRequest = { model: 'm', kind: 'generate' };

t.test('a free slot beats a queue', async (t) => {
  const balancer = adaptive()();
  t.equal(balancer.pickNode(REQUEST, [node('a', { activeRequests: 2 }), node('b', { activeRequests: 1 })])!.nodeId, 'b');
  t.equal(balancer.pickNode(REQUEST, [node('a', { activeRequests: 3, slots: 4 }), node('b', { activeRequests: 2 })])!.nodeId, 'a', 'more slots: 3 of 4 busy still has one free');
});

t.test('a model load costs its size over the measured load speed', async (t) => {
  const balancer = adaptive()();
  const cold = node('cold', {}, { modelLoaded: false, modelSize: 8e9 });
  // b has one request ahead of it: 256 tokens at 25 tokens/s per slot, over 2 slots ≈ 5.1 s.
  const busy = node('busy', { activeRequests: 2 });
  t.equal(balancer.pickNode(REQUEST, [busy, cold])!.nodeId, 'busy', '8 GB at the default 1 GB/s: 8 s is worse than ~5 s of queue');
  const fastLoad = node('cold', { loadBytesPerSecond: 4e9 }, { modelLoaded: false, modelSize: 8e9 });
  t.equal(balancer.pickNode(REQUEST, [busy, fastLoad])!.nodeId, 'cold', 'at a measured 4 GB/s, 2 s wins');
});

t.test("the prompt part a node's cache holds is not evaluated again", async (t) => {
  const balancer = adaptive()();
  const messages = [{ role: 'system', content: 'Long shared instructions. '.repeat(400) }, { role: 'user', content: 'first question' }];
  const first: RouteRequest = { model: 'm', kind: 'chat', ...promptBlocks('chat', { messages }) };
  t.ok(first.promptTokens! > 2000, `${first.promptTokens} prompt tokens`);
  const slow = node('a', { promptTokensPerSecond: 500 });
  const fast = node('b', { promptTokensPerSecond: 1000 });
  t.equal(balancer.pickNode(first, [slow, fast])!.nodeId, 'b', 'nothing cached: the faster prefill');
  balancer.started!('a', first);
  balancer.finished!('a', first, 'ok');
  const next: RouteRequest = { model: 'm', kind: 'chat', ...promptBlocks('chat', { messages: [...messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'second' }] }) };
  t.equal(balancer.pickNode(next, [slow, fast])!.nodeId, 'a', 'a holds the long prefix: its slower prefill of the rest wins');
  t.equal(balancer.pickNode({ ...next, model: 'other' }, [slow, fast])!.nodeId, 'b', 'the cache is per model');
});

t.test('requests it routed count as queued before gossip reports them', async (t) => {
  const balancer = adaptive()();
  const candidates = [node('a', { slots: 1 }), node('b', { slots: 1 })];
  const first = balancer.pickNode(REQUEST, candidates)!;
  balancer.started!(first.nodeId, REQUEST);
  t.not(balancer.pickNode(REQUEST, candidates)!.nodeId, first.nodeId);
  balancer.finished!(first.nodeId, REQUEST, 'ok');
  t.equal(balancer.pickNode(REQUEST, candidates)!.nodeId, first.nodeId, 'finished requests stop counting');
});

t.test('ties go to free VRAM, then tokens/s; the bias adds to the score', async (t) => {
  const balancer = adaptive()();
  t.equal(balancer.pickNode(REQUEST, [node('a', { vramFree: 1e9 }), node('b', { vramFree: 9e9 })])!.nodeId, 'b');
  t.equal(balancer.pickNode(REQUEST, [node('a', { tokensPerSecond: 40 }), node('b', { tokensPerSecond: 90 })])!.nodeId, 'b');
  const biased = [node('a', { activeRequests: 2 }, { scoreBias: 10_000 }), node('b', { activeRequests: 1 })];
  t.equal(balancer.pickNode(REQUEST, biased)!.nodeId, 'a', 'a 10 s bias outweighs a 5 s queue');
});

t.test('without load figures for a candidate, scheduler.load_balancing picks', async (t) => {
  t.equal(hasLoadFigures(node('a', { slots: 0 })), false);
  t.equal(hasLoadFigures(node('a', { slots: NaN })), false);
  t.equal(hasLoadFigures(node('a')), true);
  const unannounced = [node('a', { slots: 0, activeRequests: 5 }), node('b', { slots: 0 }), node('c', { slots: 2, activeRequests: 9 })];
  const roundRobin = adaptive({ load_balancing: 'round_robin' })();
  t.same([0, 1, 2, 3].map(() => roundRobin.pickNode(REQUEST, unannounced)!.nodeId), ['a', 'b', 'c', 'a']);
  const least = adaptive({ load_balancing: 'least_connections' })();
  t.equal(least.pickNode(REQUEST, unannounced)!.nodeId, 'b');
  t.equal(least.deterministic, true);
  t.equal(adaptive({ load_balancing: 'random' })().deterministic, false);
  t.throws(() => adaptive({ load_balancing: 'fastest' }), { code: 'OD_ERR_CONFIG', message: /scheduler\.load_balancing = "fastest": must be one of round_robin, least_connections, random/ });
});

t.test('picks the same as the TypeScript twin would over many random candidates', async (t) => {
  const balancer = adaptive()();
  const random = prng(77);
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(random() * 200);
    const rows = randomFeatures(random, n);
    const candidates = Array.from({ length: n }, (_, i) => node(`n${i}`, { activeRequests: rows[i * 10]!, slots: 1 + rows[i * 10 + 1]!, ttftMs: rows[i * 10 + 2]!, tokensPerSecond: rows[i * 10 + 3]!, vramFree: rows[i * 10 + 9]! }));
    const expected = bestCandidateJs(candidateFeatures(candidates), n, paramVector());
    t.equal(balancer.pickNode(REQUEST, candidates), candidates[expected], `round ${round}, ${n} candidates`);
  }
});
