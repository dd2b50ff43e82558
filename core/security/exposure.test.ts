// Which listeners count as exposed unprotected: a table of configs in, reasons out.

import t from 'tap';
import { loadConfig } from '../config/load.js';
import { exposureProblems } from './exposure.js';

const configWith = (env: Record<string, string>) => loadConfig({ env }).config;
const LOOPBACK = { OLLAMA_API_LISTEN: '127.0.0.1:11434', OLLAMA_P2P_LISTEN: '/ip4/127.0.0.1/tcp/4001', OLLAMA_CONSENSUS_BIND_ADDR: '127.0.0.1:7000' };
const KEY = { OLLAMA_P2P_CLUSTER_KEY: 'k'.repeat(43) };

const cases: [string, Record<string, string>, boolean, RegExp[]][] = [
  ['defaults: loopback everywhere', {}, false, []],
  ['an API on all interfaces without auth', { ...LOOPBACK, OLLAMA_API_LISTEN: '0.0.0.0:11434' }, false, [/^api.listen 0.0.0.0:11434 .* security.auth.enabled is false/]],
  ['... with auth enforcing', { ...LOOPBACK, OLLAMA_API_LISTEN: '0.0.0.0:11434' }, true, []],
  ['an API on a LAN address without auth', { ...LOOPBACK, OLLAMA_API_LISTEN: '10.0.0.5:11434' }, false, [/^api.listen 10.0.0.5:11434/]],
  ['localhost and ::1 are loopback', { ...LOOPBACK, OLLAMA_API_LISTEN: 'localhost:11434', OLLAMA_CONSENSUS_BIND_ADDR: '[::1]:7000' }, false, []],
  ['P2P on all interfaces without a cluster key', { ...LOOPBACK, OLLAMA_P2P_LISTEN: '/ip4/0.0.0.0/tcp/4001' }, false, [/^p2p.listen \/ip4\/0.0.0.0\/tcp\/4001 .* p2p.cluster_key is empty/]],
  ['P2P on IPv6 any without a key', { ...LOOPBACK, OLLAMA_P2P_LISTEN: '/ip6/::/tcp/4001' }, false, [/^p2p.listen/]],
  ['consensus on all interfaces without a key', { ...LOOPBACK, OLLAMA_CONSENSUS_BIND_ADDR: '0.0.0.0:7000' }, false, [/^consensus.bind_addr 0.0.0.0:7000 .* p2p.cluster_key is empty/]],
  ['P2P and consensus exposed with a key', { ...LOOPBACK, ...KEY, OLLAMA_P2P_LISTEN: '/ip4/0.0.0.0/tcp/4001', OLLAMA_CONSENSUS_BIND_ADDR: '0.0.0.0:7000' }, false, []],
  ['everything exposed, nothing set', { OLLAMA_API_LISTEN: '0.0.0.0:11434', OLLAMA_P2P_LISTEN: '/ip4/0.0.0.0/tcp/4001', OLLAMA_CONSENSUS_BIND_ADDR: '0.0.0.0:7000' }, false, [/^api.listen/, /^p2p.listen/, /^consensus.bind_addr/]],
];

for (const [what, env, authEnforcing, expected] of cases) {
  t.test(what, async (t) => {
    const problems = exposureProblems(configWith(env), authEnforcing);
    t.equal(problems.length, expected.length, problems.join('\n'));
    expected.forEach((pattern, i) => t.match(problems[i], pattern));
  });
}
