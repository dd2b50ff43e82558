import t from 'tap';
import { balancerConformance, candidate } from '../../conformance/balancer/index.js';
import { random } from './index.js';

balancerConformance(t, () => random()());

t.test('spreads picks over every candidate', async (t) => {
  const balancer = random()();
  const candidates = [candidate('a'), candidate('b'), candidate('c')];
  const counts = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const id = balancer.pickNode({ model: 'm', kind: 'chat' }, candidates)!.nodeId;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const c of candidates) t.ok((counts.get(c.nodeId) ?? 0) > 800, `${c.nodeId} picked ${counts.get(c.nodeId)} of 3000 times`);
});
