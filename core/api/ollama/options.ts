// Ollama's request `options` (and model parameters): each known option type-checked the way
// api.Options.FromMap does, with its messages; unknown options are ignored as Ollama ignores them.

import type { ModelOptions } from '../../contracts/engine.js';
import { badRequest } from '../../errors.js';
import { OPTION_TYPES, type OptionType } from '../../models/option-types.js';
import type { JsonObject } from './body.js';

/** Ollama words type errors with its Go field types. */
const GO_TYPE_NAMES: Record<OptionType, string> = { integer: 'integer', float: 'float32', boolean: 'boolean', list: 'array' };

function checked(key: string, type: OptionType, value: unknown): unknown {
  switch (type) {
    case 'integer':
      // JSON numbers arrive as float64 and Go truncates them into the int field.
      if (typeof value !== 'number' || !Number.isFinite(value)) break;
      return Math.trunc(value);
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) break;
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') break;
      return value;
    case 'list':
      if (!Array.isArray(value)) break;
      if (value.some((item) => typeof item !== 'string')) throw badRequest(`option "${key}" must be of an array of strings`);
      return value;
  }
  throw badRequest(`option "${key}" must be of type ${GO_TYPE_NAMES[type]}`);
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
