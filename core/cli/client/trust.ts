// Which HTTPS nodes the CLI trusts: public roots, plus the cluster CA named by
// OLLAMA_SECURITY_TLS_CA_FILE (the variable a node reads for the same file) or the node's config.

import { readFileSync } from 'node:fs';
import { Agent } from 'undici';

const agents = new Map<string, Agent>();

/** A fetch init's `dispatcher` that trusts `caFile`; none when no file is named. */
export function trustingCa(caFile = process.env.OLLAMA_SECURITY_TLS_CA_FILE ?? ''): { dispatcher?: Agent } {
  if (caFile === '') return {};
  let agent = agents.get(caFile);
  if (!agent) {
    let ca: Buffer;
    try {
      ca = readFileSync(caFile);
    } catch (error) {
      throw new Error(`cannot read the CA file ${caFile} (OLLAMA_SECURITY_TLS_CA_FILE): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    agent = new Agent({ connect: { ca } });
    agents.set(caFile, agent);
  }
  return { dispatcher: agent };
}
