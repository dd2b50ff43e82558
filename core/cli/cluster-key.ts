// `ollama-distributed cluster-key`: prints a new random cluster key on one line, ready to use as
// OLLAMA_P2P_CLUSTER_KEY, p2p.cluster_key or the content of a key file.

import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';

/** 256 bits: the HMAC-SHA256 key size of the join handshake. */
const KEY_BYTES = 32;

export function newClusterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

export function registerClusterKeyCommand(program: Command): void {
  program
    .command('cluster-key')
    .description('print a new random cluster key (p2p.cluster_key, OLLAMA_P2P_CLUSTER_KEY)')
    .action(() => {
      process.stdout.write(`${newClusterKey()}\n`);
    });
}
