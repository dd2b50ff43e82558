// The llama-cpp engine plugin: runs GGUF models in-process through node-llama-cpp (CUDA, Vulkan,
// Metal or CPU). The kernel builds it from the node config's `engine` section.

import type { NodeConfig } from '../../core/config/schema.js';
import type { Engine } from '../../core/contracts/engine.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';
import type { Logger } from '../../core/log.js';
import { LlamaCppEngine, type EngineSection } from './engine.js';

export type { EngineSection };

export const meta = {
  name: 'llama-cpp',
  kind: 'engine',
  provides: ['engine'],
  requires: ['logger', 'config'],
} satisfies PluginMeta;

export interface LlamaCppComponents {
  logger: Logger;
  config: NodeConfig;
}

export function llamaCpp(init: EngineSection) {
  return (components: LlamaCppComponents): Engine => new LlamaCppEngine(init, components.logger.child({ plugin: meta.name }));
}

export default llamaCpp;
