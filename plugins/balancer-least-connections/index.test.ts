import t from 'tap';
import { balancerConformance, candidate } from '../../conformance/balancer/index.js';
import { leastConnections } from './index.js';

balancerConformance(t, () => leastConnections()());

t.test('picks the candidate with the fewest requests', async (t) => {
  const balancer = leastConnections()();
  t.equal(balancer.pickNode({ model: 'm', kind: 'chat' }, [candidate('a', 4), candidate('b', 1), candidate('c', 2)])!.nodeId, 'b');
});

t.test('counts requests it routed before gossip reports them', async (t) => {
  const balancer = leastConnections()();
  const request = { model: 'm', kind: 'generate' } as const;
  const candidates = [candidate('a'), candidate('b')];
  const first = balancer.pickNode(request, candidates)!;
  balancer.started!(first.nodeId, request);
  const second = balancer.pickNode(request, candidates)!;
  t.not(second.nodeId, first.nodeId, 'the second request goes to the idle node');
  balancer.finished!(first.nodeId, request, 'ok');
  balancer.started!(second.nodeId, request);
  t.equal(balancer.pickNode(request, candidates)!.nodeId, first.nodeId, 'finished requests stop counting');
});
