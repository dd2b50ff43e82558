// The balancer suite against the plugin OD_BALANCER_PLUGIN names (a built-in name or a path): what
// `ollama-distributed conformance balancer` runs. OD_BALANCER_OPTIONS (JSON) becomes scheduler.options.

import t from 'tap';
import type { Balancer } from '../../core/contracts/balancer.js';
import { resolvePlugin } from '../../core/kernel/resolve.js';
import { balancerConformance } from './index.js';

const specifier = process.env.OD_BALANCER_PLUGIN;
if (!specifier) {
  t.fail('OD_BALANCER_PLUGIN names no plugin: run this through ollama-distributed conformance balancer --plugin <name|path>');
} else {
  const plugin = await resolvePlugin({ kind: 'balancer', key: '--plugin', specifier, baseDir: process.env.OD_BALANCER_BASEDIR ?? process.cwd() });
  const { requires } = plugin.module.meta;
  if (requires.length > 0) t.fail(`${specifier} requires ${requires.join(', ')}: the balancer suite gives a balancer no components`);
  const init = { algorithm: specifier, load_balancing: 'least_connections', worker_count: 1, queue_size: 512, options: JSON.parse(process.env.OD_BALANCER_OPTIONS || '{}') as unknown };
  balancerConformance(t, async () => (await plugin.module.default(init)({})) as Balancer);
}
