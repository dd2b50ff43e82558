// What in-process Raft tests share: a member on loopback with the default timing and a data dir
// of its own.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { StateMachine } from '../../core/contracts/consensus.js';
import { RaftConsensus } from './raft-consensus.js';

const ELECTION_TIMEOUT_MS = 1000;

export async function startRaftMember<State>(nodeId: string, stateMachine: StateMachine<State>, options: { bootstrap: boolean }): Promise<RaftConsensus<State>> {
  const consensus = new RaftConsensus<State>({
    nodeId,
    dataDir: mkdtempSync(join(tmpdir(), 'od-raft-')),
    bindAddr: '127.0.0.1:0',
    advertiseAddr: '',
    apiAdvertise: '',
    bootstrap: options.bootstrap,
    clusterKey: '',
    heartbeat_timeout: ELECTION_TIMEOUT_MS,
    election_timeout: ELECTION_TIMEOUT_MS,
    commit_timeout: 50,
    maxAppendEntries: 64,
    snapshotThreshold: 10_000,
    snapshotIntervalMs: 3_600_000,
    stateMachine,
    logger: pino({ level: 'silent' }),
  });
  await consensus.start();
  return consensus;
}

/** Resolves once `done` holds, checked every 10 ms. */
export async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
