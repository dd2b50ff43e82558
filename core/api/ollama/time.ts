// Timestamps and durations in the shapes Ollama's JSON uses: RFC 3339 with up to nanosecond
// digits (Go's time.RFC3339Nano) and durations as integer nanoseconds.

/** The whole-second part of the last stamp: every chunk of a stream takes one, most in the same second. */
let lastSecond = NaN;
let lastBase = '';

function rfc3339(epochMs: number): string {
  const seconds = Math.floor(epochMs / 1000);
  const nanos = Math.min(999_999_999, Math.round((epochMs - seconds * 1000) * 1e6));
  if (seconds !== lastSecond) {
    lastBase = new Date(seconds * 1000).toISOString().slice(0, 19);
    lastSecond = seconds;
  }
  const base = lastBase;
  const fraction = nanos === 0 ? '' : `.${String(nanos).padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${fraction}Z`;
}

/** Now, with the sub-millisecond digits the monotonic clock gives. */
export function createdAt(): string {
  return rfc3339(performance.timeOrigin + performance.now());
}

export function timestamp(date: Date): string {
  return rfc3339(date.getTime());
}

/** A start mark for `nanosSince`. */
export function startClock(): bigint {
  return process.hrtime.bigint();
}

export function nanosSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}
