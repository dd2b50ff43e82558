// The ollama engine plugin: forwards inference to an Ollama daemon at engine.ollama.url, pushing
// each model to it first. The kernel builds it from the node config's `engine` section.

import type { NodeConfig } from '../../core/config/schema.js';
import type { Engine } from '../../core/contracts/engine.js';
import type { BaseComponents, PluginMeta } from '../../core/contracts/plugin.js';
import { OllamaEngine } from './engine.js';

export const meta = { name: 'ollama', kind: 'engine', provides: ['engine'], requires: ['logger', 'config'] } as const satisfies PluginMeta;

export type OllamaComponents = Pick<BaseComponents, 'logger' | 'config'>;

export function ollamaEngine(init: NodeConfig['engine']) {
  return (components: OllamaComponents): Engine =>
    new OllamaEngine({ url: init.ollama.url, numParallel: init.num_parallel }, components.logger.child({ plugin: meta.name }));
}

export default ollamaEngine;
