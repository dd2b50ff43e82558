// Text the client commands print, formatted as Ollama's format package and tablewriter do:
// decimal sizes ("4.7 GB"), relative times ("2 minutes ago"), Go durations, padded tables.

const UNITS: [number, string][] = [
  [1e12, 'TB'],
  [1e9, 'GB'],
  [1e6, 'MB'],
  [1e3, 'KB'],
];

export function humanBytes(bytes: number): string {
  const unit = UNITS.find(([size]) => bytes >= size);
  if (!unit) return `${bytes} B`;
  const value = bytes / unit[0];
  if (value >= 10 || Number.isInteger(value)) return `${Math.trunc(value)} ${unit[1]}`;
  return `${value.toFixed(1)} ${unit[1]}`;
}

/** Parameter counts as Ollama shows them: 8B, 1.5B, 125M, 7K. */
export function humanNumber(n: number): string {
  if (n >= 1e9) return Number.isInteger(n / 1e9) ? `${n / 1e9}B` : `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return Number.isInteger(n / 1e6) ? `${n / 1e6}M` : `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`;
  return String(n);
}

function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(hours / 24 / 365)} years`;
}

/** "2 minutes ago", "4 minutes from now", "Forever" beyond 20 years ahead; `never` for no time. */
export function humanTime(time: Date | undefined, never: string, now = Date.now()): string {
  if (!time || Number.isNaN(time.getTime()) || time.getTime() <= 0) return never;
  const delta = now - time.getTime();
  if (Math.trunc(delta / 3_600_000 / 24 / 365) < -20) return 'Forever';
  return delta < 0 ? `${humanDuration(-delta)} from now` : `${humanDuration(delta)} ago`;
}

function decimal(value: number, digits: number): string {
  const scale = 10 ** digits;
  const fraction = String(value % scale).padStart(digits, '0').replace(/0+$/, '');
  return fraction ? `${Math.floor(value / scale)}.${fraction}` : String(Math.floor(value / scale));
}

/** Go's time.Duration.String() for a count of nanoseconds: 350µs, 12.5ms, 1m2.003s. */
export function goDuration(nanoseconds: number): string {
  let ns = Math.round(Math.abs(nanoseconds));
  const sign = nanoseconds < 0 ? '-' : '';
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${decimal(ns, 3)}µs`;
  if (ns < 1e9) return `${sign}${decimal(ns, 6)}ms`;
  const hours = Math.floor(ns / 3.6e12);
  ns -= hours * 3.6e12;
  const minutes = Math.floor(ns / 6e10);
  ns -= minutes * 6e10;
  return `${sign}${hours ? `${hours}h` : ''}${hours || minutes ? `${minutes}m` : ''}${decimal(ns, 9)}s`;
}

/** Left-aligned columns separated by four spaces, as `ollama list` prints them. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('    ').trimEnd() + '\n').join('');
}
