// Ollama's keep_alive: a Go duration string ("5m", "1h30m") or a number of seconds; negative keeps
// the model loaded forever, 0 unloads it after the request. Absent means the node's default.

import { badRequest } from '../../errors.js';
import { jsonKind } from './body.js';

/** The engine contract's "never expires". */
export const FOREVER = -1;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const GO_TYPES: Record<string, string> = { bool: 'bool', array: '[]interface {}', object: 'map[string]interface {}' };

/** Go's time.ParseDuration, in milliseconds, with its error messages. */
export function parseGoDuration(input: string): number {
  const quoted = JSON.stringify(input);
  let rest = input;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw badRequest(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (number[0] === '' || number[0] === '.') throw badRequest(`time: invalid duration ${quoted}`);
    rest = rest.slice(number[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') throw badRequest(`time: missing unit in duration ${quoted}`);
    const scale = UNIT_MS[unit];
    if (scale === undefined) throw badRequest(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    total += Number(number[0].startsWith('.') ? `0${number[0]}` : number[0]) * scale;
  }
  return sign * total;
}

/** Milliseconds the engine keeps the model after the request; FOREVER for negative values. */
export function keepAliveMs(value: unknown, defaultMs: number): number {
  let ms: number;
  if (value === undefined || value === null) ms = defaultMs;
  else if (typeof value === 'number') ms = value * 1000;
  else if (typeof value === 'string') ms = parseGoDuration(value);
  else throw badRequest(`Unsupported type: '${GO_TYPES[jsonKind(value)]}'`);
  return ms < 0 ? FOREVER : Math.round(ms);
}
