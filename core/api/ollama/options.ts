// Ollama's request `options` (and model parameters): each known option type-checked the way
// api.Options.FromMap does, with its messages; unknown options are ignored as Ollama ignores them.

import type { ModelOptions } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';
import type { JsonObject } from './body.js';

type OptionType = 'integer' | 'float32' | 'boolean' | 'array';

const OPTION_TYPES: Record<string, OptionType> = {
  num_keep: 'integer',
  seed: 'integer',
  num_predict: 'integer',
  top_k: 'integer',
  top_p: 'float32',
  min_p: 'float32',
  typical_p: 'float32',
  repeat_last_n: 'integer',
  temperature: 'float32',
  repeat_penalty: 'float32',
  presence_penalty: 'float32',
  frequency_penalty: 'float32',
  stop: 'array',
  num_ctx: 'integer',
  num_batch: 'integer',
  num_gpu: 'integer',
  main_gpu: 'integer',
  use_mmap: 'boolean',
  num_thread: 'integer',
};

function checked(key: string, type: OptionType, value: unknown): unknown {
  switch (type) {
    case 'integer':
      // JSON numbers arrive as float64 and Go truncates them into the int field.
      if (typeof value !== 'number' || !Number.isFinite(value)) break;
      return Math.trunc(value);
    case 'float32':
      if (typeof value !== 'number' || !Number.isFinite(value)) break;
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') break;
      return value;
    case 'array':
      if (!Array.isArray(value)) break;
      if (value.some((item) => typeof item !== 'string')) throw badRequest(`option "${key}" must be of an array of strings`);
      return value;
  }
  throw badRequest(`option "${key}" must be of type ${type}`);
}

/** The known options of `raw`, typed; nulls and unknown keys are dropped. */
export function parseOptions(raw: JsonObject | undefined): ModelOptions {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw ?? {})) {
    const type = OPTION_TYPES[key];
    if (type === undefined || value === null) continue;
    options[key] = checked(key, type, value);
  }
  return options as ModelOptions;
}
