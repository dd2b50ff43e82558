// What auth costs on the request path: a cheap authenticated request (GET /api/ps, sim engine) on
// a node with auth off, on one with auth on given a JWT and given an API key, taking turns; and
// the jwt plugin's authenticate alone, in this process, beside auth-none's.

import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Client } from 'undici';
import { startTestNode, type TestNode } from '../conformance/fixtures/node.js';
import type { Authenticator } from '../core/contracts/auth.js';
import { signHs256 } from '../plugins/auth-jwt/sign.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface AuthBenchOptions {
  /** Measured requests per side, after the warm-up. */
  requests?: number;
  /** authenticate() calls per credential for the in-process figure. */
  calls?: number;
}

const WARM_UP = 200;
const PATH = '/api/ps';

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

async function timed(client: Client, authorization: string | undefined): Promise<number> {
  const started = performance.now();
  const response = await client.request({ method: 'GET', path: PATH, headers: authorization ? { authorization } : {} });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${PATH} answered ${response.statusCode}`);
  return performance.now() - started;
}

/** Mean µs per authenticate() over `calls`, after as many warm-up calls. */
async function perCall(auth: Authenticator, authorization: string | undefined, calls: number): Promise<number> {
  const request = { method: 'GET', path: PATH, headers: authorization ? { authorization } : {}, remoteAddress: '127.0.0.1' };
  for (let i = 0; i < calls; i++) await auth.authenticate(request);
  const started = performance.now();
  for (let i = 0; i < calls; i++) if (!(await auth.authenticate(request))) throw new Error('authenticate refused the credential');
  return ((performance.now() - started) / calls) * 1000;
}

export async function run(options: AuthBenchOptions = {}): Promise<BenchmarkRow[]> {
  const { requests = 2000, calls = 20_000 } = options;
  const secret = randomBytes(32).toString('hex');
  const nodes: TestNode[] = [];
  const clients: Client[] = [];
  try {
    const open = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
    nodes.push(open);
    const guarded = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: secret } });
    nodes.push(guarded);
    const now = Math.floor(Date.now() / 1000);
    const bearer = (role: string) => `Bearer ${signHs256({ sub: 'bench', role, iss: 'ollama-distributed', iat: now, exp: now + 3600 }, secret)}`;
    const jwt = bearer('user');
    const made = await fetch(`${guarded.url}/api/v1/keys`, { method: 'POST', headers: { authorization: bearer('admin') }, body: JSON.stringify({ name: 'bench', role: 'user' }) });
    if (made.status !== 201) throw new Error(`POST /api/v1/keys answered ${made.status}`);
    const apiKey = `Bearer ${((await made.json()) as { key: string }).key}`;

    const client = (node: TestNode) => {
      const opened = new Client(node.url, { pipelining: 1 });
      clients.push(opened);
      return opened;
    };
    const [offClient, onClient] = [client(open), client(guarded)];
    const sides = [() => timed(offClient, undefined), () => timed(onClient, jwt), () => timed(onClient, apiKey)];
    const samples: number[][] = sides.map(() => []);
    for (let round = 0; round < WARM_UP + requests; round++) {
      for (let turn = 0; turn < sides.length; turn++) {
        const side = (round + turn) % sides.length;
        const ms = await sides[side]!();
        if (round >= WARM_UP) samples[side]!.push(ms);
      }
    }
    const [off, withJwt, withKey] = samples as [number[], number[], number[]];
    const rows: BenchmarkRow[] = [];
    for (const [label, side] of [['auth on, JWT', withJwt], ['auth on, API key', withKey]] as const) {
      for (const q of [0.5, 0.99]) {
        const value = quantile(side, q);
        const base = quantile(off, q);
        rows.push({ name: `GET ${PATH}, ${label}, ${q === 0.5 ? 'median' : 'p99'}`, value, unit: 'ms', baseline: base, baselineName: 'auth off', ratio: value / base, better: 'lower' });
      }
    }
    const none = await perCall(open.node.component<Authenticator>('auth'), undefined, calls);
    for (const [label, credential] of [['JWT (HS256)', jwt], ['API key', apiKey]] as const) {
      const value = await perCall(guarded.node.component<Authenticator>('auth'), credential, calls);
      rows.push({ name: `authenticate() alone, ${label}`, value, unit: 'µs/call', baseline: none, baselineName: 'auth-none', ratio: value / none, better: 'lower' });
    }
    return rows;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const node of nodes.reverse()) await node.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
