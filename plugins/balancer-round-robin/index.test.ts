import t from 'tap';
import { balancerConformance, candidate } from '../../conformance/balancer/index.js';
import { roundRobin } from './index.js';

balancerConformance(t, () => roundRobin()());

t.test('visits every candidate in turn', async (t) => {
  const balancer = roundRobin()();
  const candidates = [candidate('a'), candidate('b'), candidate('c')];
  const picks = Array.from({ length: 6 }, () => balancer.pickNode({ model: 'm', kind: 'chat' }, candidates)!.nodeId);
  t.same(picks, ['a', 'b', 'c', 'a', 'b', 'c']);
});
