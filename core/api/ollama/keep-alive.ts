// Ollama's keep_alive: a Go duration string ("5m", "1h30m") or a number of seconds; negative keeps
// the model loaded forever, 0 unloads it after the request. Absent means the node's default.

import { badRequest } from '../../errors.js';
import { jsonKind } from './body.js';

/** The engine contract's "never expires". */
export const FOREVER = -1;

/** Nanoseconds per unit, as Go's time package counts them. */
const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, 'µs': 1_000n, 'μs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** Go's longest time.Duration (int64 nanoseconds, ~292 years), in milliseconds. */
const MAX_DURATION_MS = Number((1n << 63n) - 1n) / 1e6;

const GO_TYPES: Record<string, string> = { bool: 'bool', array: '[]interface {}', object: 'map[string]interface {}' };

/** Go's time.ParseDuration, in milliseconds, with its error messages; past ~292 years it overflows as Go's does. */
export function parseGoDuration(input: string): number {
  const quoted = JSON.stringify(input);
  const invalid = () => badRequest(`time: invalid duration ${quoted}`);
  let rest = input;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1n : 1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0n;
  while (rest !== '') {
    const number = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (number[0] === '' || number[0] === '.') throw invalid();
    rest = rest.slice(number[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') throw badRequest(`time: missing unit in duration ${quoted}`);
    const scale = UNIT_NS[unit];
    if (scale === undefined) throw badRequest(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    const fraction = number[2] ?? '';
    total += BigInt(number[1] || '0') * scale;
    // Go adds the fraction through a float64 and truncates, as here.
    if (fraction !== '') total += BigInt(Math.trunc(Number(`0.${fraction}`) * Number(scale)));
    if (total > 1n << 63n) throw invalid();
  }
  if (sign > 0n && total > (1n << 63n) - 1n) throw invalid();
  return (Number(sign * total) / 1e6);
}

/** Milliseconds the engine keeps the model after the request; FOREVER for negative values. */
export function keepAliveMs(value: unknown, defaultMs: number): number {
  let ms: number;
  if (value === undefined || value === null) ms = defaultMs;
  else if (typeof value === 'number') ms = value * 1000;
  else if (typeof value === 'string') ms = parseGoDuration(value);
  else throw badRequest(`Unsupported type: '${GO_TYPES[jsonKind(value)]}'`);
  // A number of seconds has no overflow error in Ollama; past Go's longest duration it means as long as any.
  return ms < 0 ? FOREVER : Math.round(Math.min(ms, MAX_DURATION_MS));
}
