import t from 'tap';
import { join } from 'node:path';
import type { Balancer } from '../../core/contracts/balancer.js';
import { resolvePlugin } from '../../core/kernel/resolve.js';
import { PACKAGE_ROOT } from '../../core/version.js';
import { balancerConformance, candidate } from './index.js';

// The example users copy passes the same suite as the built-ins.
const plugin = await resolvePlugin({
  kind: 'balancer',
  key: 'scheduler.algorithm',
  specifier: './prefer-local-balancer.js',
  baseDir: join(PACKAGE_ROOT, 'conformance', 'fixtures'),
});
const create = () => plugin.module.default({ options: { max_active: 2 } })({}) as Balancer;

balancerConformance(t, create);

t.test('keeps requests local until the local node is busy', async (t) => {
  const balancer = create();
  const request = { model: 'm', kind: 'chat' } as const;
  t.equal(balancer.pickNode(request, [candidate('a', 0), candidate('me', 1, true)])!.nodeId, 'me');
  t.equal(balancer.pickNode(request, [candidate('a', 0), candidate('me', 2, true)])!.nodeId, 'a');
});
