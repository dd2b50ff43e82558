import t from 'tap';
import { balancerConformance, candidate } from '../../conformance/balancer/index.js';
import type { Candidate, RouteRequest } from '../../core/contracts/balancer.js';
import { promptBlocks } from '../../core/scheduler/prompt-blocks.js';
import { affinity, affinityThresholds, tooBusy } from './index.js';

balancerConformance(t, () => affinity()());

const system = 'You answer questions about distributed inference. '.repeat(20);
const turn = (history: { role: string; content: string }[], question: string) => [...history, { role: 'user', content: question }];
const chatRequest = (messages: { role: string; content: string }[]): RouteRequest => ({ model: 'm', kind: 'chat', ...promptBlocks('chat', { messages }) });
const loaded = (id: string, active: number): Candidate => ({ ...candidate(id, active), load: { ...candidate(id).load, activeRequests: active, slots: 2 } });

t.test('a chat goes back to the node that served its earlier turns', async (t) => {
  const balancer = affinity()();
  const first = turn([{ role: 'system', content: system }], 'What is a KV cache? '.repeat(20));
  const candidates = [loaded('a', 0), loaded('b', 0), loaded('c', 0)];
  const request = chatRequest(first);
  const pick = balancer.pickNode(request, candidates)!;
  t.equal(pick.nodeId, 'a', 'no match: the least loaded, first in order');
  balancer.started!(pick.nodeId, request);
  balancer.finished!(pick.nodeId, request, 'ok');
  const later = chatRequest(turn([...first, { role: 'assistant', content: 'It holds keys and values. '.repeat(20) }], 'And prefix caching?'));
  const busier = [loaded('a', 2), loaded('b', 0), loaded('c', 1)];
  t.equal(balancer.pickNode(later, busier)!.nodeId, 'a', 'the follow-up turn sticks while a is within the imbalance bound');
  t.equal(balancer.pickNode(chatRequest(turn([{ role: 'system', content: 'Other. '.repeat(80) }], 'hi '.repeat(100))), busier)!.nodeId, 'b', 'an unrelated prompt: the least loaded');
});

t.test('past both thresholds the least loaded wins', async (t) => {
  const balancer = affinity({ options: { balance_abs_threshold: 2, balance_rel_threshold: 2 } })();
  const request = chatRequest(turn([{ role: 'system', content: system }], 'q '.repeat(200)));
  balancer.started!('a', request);
  balancer.finished!('a', request, 'ok');
  t.equal(balancer.pickNode(request, [loaded('a', 3), loaded('b', 1)])!.nodeId, 'a', '3 − 1 ≤ 2: within the absolute bound');
  t.equal(balancer.pickNode(request, [loaded('a', 5), loaded('b', 3)])!.nodeId, 'a', '5 − 3 ≤ 2 still');
  t.equal(balancer.pickNode(request, [loaded('a', 7), loaded('b', 4)])!.nodeId, 'a', '7 − 4 > 2 but 7 ≤ 2 × 4: within the relative bound');
  t.equal(balancer.pickNode(request, [loaded('a', 9), loaded('b', 4)])!.nodeId, 'b', '9 − 4 > 2 and 9 > 2 × 4: imbalanced');
});

t.test('requests it routed count before gossip reports them', async (t) => {
  const balancer = affinity({ options: { balance_abs_threshold: 1, balance_rel_threshold: 1 } })();
  const request = chatRequest(turn([{ role: 'system', content: system }], 'q '.repeat(200)));
  const idle = [loaded('a', 0), loaded('b', 0)];
  for (let i = 0; i < 2; i++) {
    t.equal(balancer.pickNode(request, idle)!.nodeId, 'a');
    balancer.started!('a', request);
  }
  t.equal(balancer.pickNode(request, idle)!.nodeId, 'b', 'two in flight on a: 2 − 0 > 1, so b');
});

t.test('the longest cached prefix wins among nodes holding some', async (t) => {
  const balancer = affinity()();
  const base = [{ role: 'system', content: system }];
  const short = chatRequest(turn(base, 'x '.repeat(10)));
  const long = chatRequest(turn(turn(base, 'x '.repeat(10)).concat({ role: 'assistant', content: 'y '.repeat(300) }), 'z'));
  balancer.started!('a', short);
  balancer.started!('b', long);
  const next = chatRequest(turn(turn(base, 'x '.repeat(10)).concat({ role: 'assistant', content: 'y '.repeat(300) }), 'z '.repeat(200)));
  t.equal(balancer.pickNode(next, [loaded('a', 1), loaded('b', 1)])!.nodeId, 'b');
});

t.test('thresholds: defaults, strings, and errors naming the key', async (t) => {
  t.same(affinityThresholds(undefined), { balance_abs_threshold: 4, balance_rel_threshold: 1.5 });
  t.same(affinityThresholds({ balance_abs_threshold: '8' }), { balance_abs_threshold: 8, balance_rel_threshold: 1.5 });
  t.throws(() => affinity({ options: { balance_rel_threshold: -1 } }), { code: 'OD_ERR_CONFIG', message: /scheduler\.options\.balance_rel_threshold = -1/ });
  t.throws(() => affinityThresholds({ balance_abs_threshold: 'many' }), { message: /balance_abs_threshold/ });
  t.equal(tooBusy(5, 0, { balance_abs_threshold: 4, balance_rel_threshold: 1.5 }), true, 'against an idle node only the absolute bound counts');
  t.equal(tooBusy(4, 0, { balance_abs_threshold: 4, balance_rel_threshold: 1.5 }), false);
});
