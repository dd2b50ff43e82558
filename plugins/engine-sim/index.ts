// The sim engine plugin: a deterministic, timing-faithful stand-in for a GPU inference engine, for
// benchmarks and large simulated clusters. Its options are documented in README.md and options.ts.

import type { Engine } from '../../core/contracts/engine.js';
import type { BaseComponents, PluginMeta } from '../../core/contracts/plugin.js';
import type { NodeConfig } from '../../core/config/schema.js';
import { SimEngine } from './engine.js';
import { parseSimOptions } from './options.js';

export const meta = { name: 'sim', kind: 'engine', provides: ['engine'], requires: ['logger', 'config'] } as const satisfies PluginMeta;

export type SimComponents = Pick<BaseComponents, 'logger' | 'config'>;

/** Validates `init.options` at once, so a bad simulation parameter fails the node at config time. */
export function sim(init: NodeConfig['engine']) {
  const options = parseSimOptions(init.options);
  const maxLoadedModels = init.max_loaded_models || 3 * Math.max(1, options.gpus);
  return (components: SimComponents): Engine =>
    new SimEngine({ options, numParallel: init.num_parallel, maxLoadedModels }, components.logger);
}

export default sim;
