// What a node answers to web browsers, as Ollama does, in pure decisions: CORS over Ollama's
// origin list plus OLLAMA_ORIGINS (gin-contrib/cors), and the Host names a loopback listener serves.

import { isIPv4, isIPv6 } from 'node:net';

/** Schemes gin-contrib/cors accepts in a configured origin without a `*` (Ollama allows extensions). */
const ORIGIN_SCHEMES = ['http://', 'https://', 'chrome-extension://', 'safari-extension://', 'moz-extension://', 'ms-browser-extension://'];

/** Ollama's cors config: gin-contrib/cors's default methods and max age, Ollama's own header list. */
const ALLOW_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'User-Agent',
  'Accept',
  'X-Requested-With',
  'OpenAI-Beta',
  'x-stainless-arch',
  'x-stainless-async',
  'x-stainless-custom-poll-interval',
  'x-stainless-helper-method',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-poll-helper',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
];
const MAX_AGE_SECONDS = 12 * 60 * 60;

/** Top-level names Ollama serves besides localhost and the machine's own name. */
const LOCAL_SUFFIXES = ['.localhost', '.local', '.internal'];

/** Go's http.CanonicalHeaderKey: each hyphen-separated word capitalised, the rest lower case. */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

/** Ollama's envconfig.AllowedOrigins: the configured origins first, then its built-in list. */
export function allowedOrigins(configured: readonly string[]): string[] {
  const origins = [...configured];
  for (const host of ['localhost', '127.0.0.1', '0.0.0.0']) {
    origins.push(`http://${host}`, `https://${host}`, `http://${host}:*`, `https://${host}:*`);
  }
  origins.push('app://*', 'file://*', 'tauri://*', 'vscode-webview://*', 'vscode-file://*');
  return origins;
}

/** Why gin-contrib/cors would refuse this configured origin (Ollama then fails to start), if it would. */
export function originProblem(origin: string): string | undefined {
  const stars = origin.split('*').length - 1;
  if (stars > 1) return `'${origin}' has more than one *`;
  if (stars === 0 && !ORIGIN_SCHEMES.some((scheme) => origin.startsWith(scheme))) {
    return `'${origin}' neither contains * nor starts with ${ORIGIN_SCHEMES.join(', ')}`;
  }
  return undefined;
}

export interface OriginPolicy {
  /** A configured `*`: any origin, answered with `Access-Control-Allow-Origin: *`. */
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  /** Each pattern's text before and after its `*`. */
  readonly patterns: readonly (readonly [string, string])[];
}

export function originPolicy(origins: readonly string[]): OriginPolicy {
  const patterns = origins.filter((o) => o.includes('*')).map((o) => [o.slice(0, o.indexOf('*')), o.slice(o.indexOf('*') + 1)] as const);
  // gin-contrib/cors lower-cases exact origins but matches patterns as written.
  return { any: origins.includes('*'), exact: new Set(origins.map((o) => o.trim().toLowerCase())), patterns };
}

export function originAllowed(policy: OriginPolicy, origin: string): boolean {
  return policy.any || policy.exact.has(origin) || policy.patterns.some(([before, after]) => origin.startsWith(before) && origin.endsWith(after));
}

export type ResponseHeaders = Record<string, string | string[]>;

export interface BrowserRequest {
  readonly method: string;
  /** The Origin header, if the request has one. */
  readonly origin?: string;
  /** The Host header; '' when the request has none (HTTP/1.0). */
  readonly host: string;
}

export type BrowserVerdict =
  | { readonly action: 'serve'; readonly headers: ResponseHeaders }
  /** Answer now with this status and an empty body; nothing else runs. */
  | { readonly action: 'answer'; readonly status: 204 | 403; readonly headers: ResponseHeaders };

/** gin-contrib/cors's applyCors: a foreign origin gets an empty 403, an allowed one's preflight a 204. */
export function corsVerdict(policy: OriginPolicy, request: BrowserRequest): BrowserVerdict {
  const { origin, host } = request;
  if (!origin || origin === `http://${host}` || origin === `https://${host}`) return { action: 'serve', headers: {} };
  if (!originAllowed(policy, origin)) return { action: 'answer', status: 403, headers: {} };
  const echo: ResponseHeaders = policy.any ? { 'Access-Control-Allow-Origin': '*' } : { 'Access-Control-Allow-Origin': origin };
  if (request.method !== 'OPTIONS') return { action: 'serve', headers: policy.any ? echo : { Vary: 'Origin', ...echo } };
  const preflight: ResponseHeaders = {
    'Access-Control-Allow-Methods': ALLOW_METHODS.join(','),
    'Access-Control-Allow-Headers': [...new Set(ALLOW_HEADERS.map((h) => h.toLowerCase()))].map(canonicalHeaderName).join(','),
    'Access-Control-Max-Age': String(MAX_AGE_SECONDS),
  };
  if (!policy.any) preflight.Vary = ['Origin', 'Access-Control-Request-Method', 'Access-Control-Request-Headers'];
  return { action: 'answer', status: 204, headers: { ...preflight, ...echo } };
}

/** What the Host check reads from the machine, asked only when a request needs it (as Ollama does). */
export interface LocalMachine {
  hostname(): string;
  /** Every address of the machine's network interfaces. */
  addresses(): readonly string[];
}

interface IpAddress {
  /** 4 bytes for IPv4, 16 for IPv6. */
  readonly bytes: readonly number[];
  readonly zone: string;
}

function parseIPv4(text: string): number[] | undefined {
  return isIPv4(text) ? text.split('.').map(Number) : undefined;
}

/** Go's netip.ParseAddr: dotted IPv4 without leading zeros, or IPv6 with an optional %zone. */
function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { bytes: v4, zone: '' };
  const percent = text.indexOf('%');
  const address = percent < 0 ? text : text.slice(0, percent);
  const zone = percent < 0 ? '' : text.slice(percent + 1);
  if ((percent >= 0 && zone === '') || !isIPv6(address)) return undefined;
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    return part.split(':').flatMap((group) => {
      const embedded = parseIPv4(group);
      return embedded ? [(embedded[0]! << 8) | embedded[1]!, (embedded[2]! << 8) | embedded[3]!] : [parseInt(group, 16)];
    });
  };
  const before = groups(head);
  const after = groups(tail);
  const words = [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
  return { bytes: words.flatMap((word) => [word >> 8, word & 0xff]), zone };
}

/** An IPv4 address carried in IPv6 as ::ffff:a.b.c.d. */
function isMapped(ip: IpAddress): boolean {
  const b = ip.bytes;
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Go unmaps ::ffff:a.b.c.d before it classifies an address. */
function unmapped(ip: IpAddress): readonly number[] {
  return isMapped(ip) ? ip.bytes.slice(12) : ip.bytes;
}

function isLoopback(ip: IpAddress): boolean {
  const b = unmapped(ip);
  return b.length === 4 ? b[0] === 127 : b.slice(0, 15).every((x) => x === 0) && b[15] === 1;
}

function isPrivate(ip: IpAddress): boolean {
  const b = unmapped(ip);
  if (b.length === 16) return (b[0]! & 0xfe) === 0xfc;
  return b[0] === 10 || (b[0] === 172 && (b[1]! & 0xf0) === 16) || (b[0] === 192 && b[1] === 168);
}

/** Go compares with the unspecified addresses exactly: ::ffff:0.0.0.0 and ::%zone are not. */
function isUnspecified(ip: IpAddress): boolean {
  return ip.bytes.every((x) => x === 0) && ip.zone === '';
}

/** Ollama's isLocalIP compares printed forms, which a mapped or zoned address never matches. */
function isInterfaceAddress(ip: IpAddress, machine: LocalMachine): boolean {
  if (ip.zone !== '' || isMapped(ip)) return false;
  const printed = ip.bytes.join('.');
  return machine.addresses().some((address) => {
    const own = parseIp(address);
    return own !== undefined && own.bytes.length === ip.bytes.length && own.bytes.join('.') === printed;
  });
}

export function addressIsLoopback(text: string): boolean {
  const ip = parseIp(text);
  return ip !== undefined && isLoopback(ip);
}

/** Go's net.SplitHostPort, returning the host, or undefined where Go reports an error. */
export function splitHostPort(hostport: string): string | undefined {
  const lastColon = hostport.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  let host: string;
  let scanFrom = 0;
  let closeFrom = 0;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0 || end + 1 !== lastColon) return undefined;
    host = hostport.slice(1, end);
    scanFrom = 1;
    closeFrom = end + 1;
  } else {
    host = hostport.slice(0, lastColon);
    if (host.includes(':')) return undefined;
  }
  if (hostport.slice(scanFrom).includes('[') || hostport.slice(closeFrom).includes(']')) return undefined;
  return host;
}

export type HostAdmission = 'address' | 'name' | 'refused';

/** Ollama's allowedHostsMiddleware: which Host values a loopback listener serves, and why. */
export function hostAdmission(hostHeader: string, machine: LocalMachine): HostAdmission {
  const known = hostOnly.get(hostHeader);
  if (known) return known;
  const host = splitHostPort(hostHeader) ?? hostHeader;
  const ip = parseIp(host);
  if (ip && (isLoopback(ip) || isPrivate(ip) || isUnspecified(ip))) return remember(hostHeader, 'address');
  if (ip && isInterfaceAddress(ip, machine)) return 'address';
  const name = host.toLowerCase();
  if (name === '' || name === 'localhost' || LOCAL_SUFFIXES.some((suffix) => name.endsWith(suffix))) return remember(hostHeader, 'name');
  return name === machine.hostname().toLowerCase() ? 'name' : 'refused';
}

/**
 * Admissions that follow from the Host value alone, by value: a client sends the same Host with
 * every request. What the machine's names and addresses decide is looked up each time, as they change.
 */
const hostOnly = new Map<string, HostAdmission>();
const HOST_ONLY_ENTRIES = 256;

function remember(hostHeader: string, admission: HostAdmission): HostAdmission {
  if (hostOnly.size >= HOST_ONLY_ENTRIES) hostOnly.delete(hostOnly.keys().next().value!);
  hostOnly.set(hostHeader, admission);
  return admission;
}

/**
 * CORS first, then, on a loopback listener (`machine` given), the Host check. Ollama answers an
 * OPTIONS to an admitted name with an empty 204 itself, and keeps CORS headers on its 403.
 */
export function judgeBrowserRequest(policy: OriginPolicy, request: BrowserRequest, machine?: LocalMachine): BrowserVerdict {
  const cors = corsVerdict(policy, request);
  if (cors.action === 'answer' || !machine) return cors;
  const admission = hostAdmission(request.host, machine);
  if (admission === 'refused') return { action: 'answer', status: 403, headers: cors.headers };
  if (admission === 'name' && request.method === 'OPTIONS') return { action: 'answer', status: 204, headers: cors.headers };
  return cors;
}
