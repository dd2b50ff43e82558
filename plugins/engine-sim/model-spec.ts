// ModelSpecs for simulated models: nothing is read from modelPath, and modelSize drives load time
// and memory. Benchmarks and tests build their simulated catalogue with it.

import { createHash } from 'node:crypto';
import type { ModelSpec } from '../../core/contracts/engine.js';

export function simModel(name: string, modelSize: number, overrides: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name,
    digest: `sha256:${createHash('sha256').update(`${name}\0${modelSize}`).digest('hex')}`,
    modelPath: `/simulated/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.gguf`,
    modelSize,
    adapterPaths: [],
    parameters: {},
    messages: [],
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'sim',
      families: ['sim'],
      parameter_size: `${Math.max(1, Math.round(modelSize / 2 ** 30))}B`,
      quantization_level: 'Q4_0',
    },
    ...overrides,
  };
}
