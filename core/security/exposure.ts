// What a node would expose beyond its own machine without protection. A node listening beyond
// loopback needs auth on its API and a cluster key on its P2P and consensus ports, or it refuses
// to start unless told it may run insecure.

import type { NodeConfig } from '../config/schema.js';
import { isLoopbackHost, splitHostPort } from '../config/values.js';

/** The host of a /ip4|ip6|dns*|/... multiaddr; undefined when it names none. */
function multiaddrHost(address: string): string | undefined {
  const match = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(address);
  return match?.[2];
}

const reachable = (host: string | undefined) => host !== undefined && !isLoopbackHost(host);

/** One sentence a reason; empty when nothing is exposed unprotected. */
export function exposureProblems(config: NodeConfig, authEnforcing: boolean): string[] {
  const problems: string[] = [];
  const keyed = config.p2p.cluster_key !== '';
  if (reachable(splitHostPort(config.api.listen).host) && !authEnforcing) {
    problems.push(`api.listen ${config.api.listen} is reachable beyond this machine and security.auth.enabled is false: anyone who reaches it can run, pull and delete models`);
  }
  if (!keyed && reachable(multiaddrHost(config.p2p.listen))) {
    problems.push(`p2p.listen ${config.p2p.listen} is reachable beyond this machine and p2p.cluster_key is empty: any host can join the cluster`);
  }
  if (!keyed && config.consensus.backend === 'raft' && reachable(splitHostPort(config.consensus.bind_addr).host)) {
    problems.push(`consensus.bind_addr ${config.consensus.bind_addr} is reachable beyond this machine and p2p.cluster_key is empty: any host can take part in consensus`);
  }
  return problems;
}

export class InsecureStartError extends Error {
  override readonly name = 'InsecureStartError';

  constructor(readonly problems: string[]) {
    super(
      `refusing to start:\n${problems.map((p) => `- ${p}`).join('\n')}\n` +
        'Enable security.auth and set p2p.cluster_key (ollama-distributed cluster-key makes one), listen on 127.0.0.1, or pass --insecure (security.insecure: true) to run unprotected anyway.',
    );
  }
}
