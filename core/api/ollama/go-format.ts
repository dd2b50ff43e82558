// Go's fmt verbs as Ollama's show output uses them on JSON-decoded values: %v and %#v of
// float64, string and bool, plus the JSON encoding Go writes into params and config blobs.

/** %v of a float64: shortest digits, exponent form below 1e-4 or from 1e6 (e.g. 1e+06). */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

const ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };

/** strconv.Quote: Go-escaped, double-quoted. */
export function goQuote(s: string): string {
  const body = s.replace(/[\x00-\x1f\x7f\\"]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${body}"`;
}

/** %v of a value decoded from JSON. */
export function goValue(value: unknown): string {
  if (typeof value === 'number') return goFloat(value);
  if (typeof value === 'string') return value;
  return typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

/** %#v of a value decoded from JSON. */
export function goSyntax(value: unknown): string {
  return typeof value === 'string' ? goQuote(value) : goValue(value);
}

/** Go's json.Encoder output: HTML characters escaped and a trailing newline. Key order is the caller's (Go sorts map keys, keeps struct order). */
export function goJson(value: unknown): string {
  const escaped = JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${escaped}\n`;
}
