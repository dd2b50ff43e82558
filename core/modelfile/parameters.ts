// Types PARAMETER values the way Ollama's api.FormatParams does: each name has the type of its
// field in Ollama's Options; `stop` collects every occurrence into a list.

import { OPTION_TYPES } from '../models/option-types.js';

export type ParameterValue = number | boolean | string | string[];

/** Accepted by Ollama with a warning and then dropped. */
export const DEPRECATED_PARAMETERS: readonly string[] = [
  'penalize_newline',
  'low_vram',
  'f16_kv',
  'logits_all',
  'vocab_only',
  'use_mlock',
  'mirostat',
  'mirostat_tau',
  'mirostat_eta',
];

const BOOLEANS: Record<string, boolean> = {
  '1': true, t: true, T: true, true: true, TRUE: true, True: true,
  '0': false, f: false, F: false, false: false, FALSE: false, False: false,
};

/** Go's strconv.ParseFloat decimal syntax; infinities and NaN have no JSON form, so they are refused. */
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export class ParameterError extends Error {}

/** Converts one occurrence; `previous` is what earlier occurrences of the same name produced. */
export function typedParameter(name: string, raw: string, previous: ParameterValue | undefined): ParameterValue {
  const type = OPTION_TYPES[name];
  if (!type) throw new ParameterError(`unknown parameter '${name}'`);
  switch (type) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new ParameterError(`invalid int value '${raw}' for ${name}`);
      return Number(raw);
    }
    case 'float': {
      if (!FLOAT.test(raw) || !Number.isFinite(Number(raw))) throw new ParameterError(`invalid float value '${raw}' for ${name}`);
      return Number(raw);
    }
    case 'boolean': {
      const value = BOOLEANS[raw];
      if (value === undefined) throw new ParameterError(`invalid bool value '${raw}' for ${name}`);
      return value;
    }
    case 'list':
      return [...(Array.isArray(previous) ? previous : []), raw];
  }
}
