// Parsers for the value types config keys use. Each takes what a YAML file, an environment
// variable or a CLI flag supplied and returns the typed value, or throws ConfigValueError with
// what is allowed.

export class ConfigValueError extends Error {}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations ("30s", "1m30s", "50ms"); a bare number means seconds. Returns milliseconds. */
export function parseDuration(raw: unknown, allowNegative = false): number {
  let ms: number | undefined;
  if (typeof raw === 'number' && Number.isFinite(raw)) ms = raw * 1000;
  else if (typeof raw === 'string') {
    const s = raw.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) ms = Number(s) * 1000;
    else {
      const match = /^(-?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(s);
      if (match) {
        ms = 0;
        for (const [, n, unit] of match[2]!.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
          ms += Number(n) * DURATION_UNITS[unit!]!;
        }
        if (match[1] === '-') ms = -ms;
      }
    }
  }
  if (ms === undefined) throw new ConfigValueError('a duration such as 500ms, 30s, 5m or 1h');
  if (ms < 0 && !allowNegative) throw new ConfigValueError('a duration that is not negative');
  return Math.round(ms);
}

export function formatDuration(ms: number): string {
  if (ms < 0) return '-1';
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Byte sizes: an integer, or a number with a unit (KB, MiB, GB, ...). */
export function parseSize(raw: unknown): number {
  const match = typeof raw === 'number' ? [String(raw), String(raw), ''] : typeof raw === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw) : null;
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new ConfigValueError('a size in bytes such as 33554432, 32MiB or 1GB');
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(Math.round(bytes)) || bytes <= 0) throw new ConfigValueError('a positive size in bytes');
  return Math.round(bytes);
}

export function parseInteger(raw: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigValueError(max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`);
  }
  return n;
}

export function parseBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'off'].includes(s)) return false;
  }
  throw new ConfigValueError('true or false');
}

export function parseString(raw: unknown, allowEmpty = true): string {
  if (typeof raw !== 'string' || (!allowEmpty && raw.trim() === '')) {
    throw new ConfigValueError(allowEmpty ? 'a string' : 'a non-empty string');
  }
  return raw;
}

export function parseEnum<T extends string>(raw: unknown, allowed: readonly T[]): T {
  if (typeof raw !== 'string' || !allowed.includes(raw as T)) throw new ConfigValueError(`one of ${allowed.join(', ')}`);
  return raw as T;
}

/** A list from YAML, or a comma-separated environment value; each item checked by `item`. */
export function parseList<T>(raw: unknown, item: (value: unknown) => T): T[] {
  const values = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
  if (!Array.isArray(values)) throw new ConfigValueError('a list (or a comma-separated string)');
  return values.map(item);
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseHostPort(raw: unknown): string {
  const s = typeof raw === 'string' ? raw.trim() : undefined;
  const match = s === undefined ? null : /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(s);
  if (!match || Number(match[2]) > 65535) throw new ConfigValueError('an address as host:port, e.g. 127.0.0.1:11434');
  return s!;
}

export function splitHostPort(address: string): HostPort {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(at + 1)) };
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A libp2p multiaddr such as /ip4/127.0.0.1/tcp/4001 (checked for shape; transports check more). */
export function parseMultiaddr(raw: unknown): string {
  if (typeof raw !== 'string' || !/^(\/[A-Za-z0-9._-]+\/[^/\s]+)+(\/p2p\/[A-Za-z0-9]+)?$/.test(raw.trim())) {
    throw new ConfigValueError('a multiaddr such as /ip4/127.0.0.1/tcp/4001');
  }
  return raw.trim();
}

export function parseUrl(raw: unknown): string {
  if (typeof raw === 'string') {
    try {
      const url = new URL(raw);
      if (url.protocol === 'http:' || url.protocol === 'https:') return raw.replace(/\/+$/, '');
    } catch {
      // reported below
    }
  }
  throw new ConfigValueError('an http:// or https:// URL');
}
