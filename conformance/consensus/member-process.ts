// One consensus member in a process of its own, so the suite can kill -9 it: loads a consensus
// plugin (a built-in name or a path), builds it on the suite's KV state machine, and answers
// newline-delimited JSON calls on stdin with results on stdout, where it also reports every
// event with the state after it. Spawned by process-cluster.ts.

import { createInterface } from 'node:readline';
import pino from 'pino';
import { loadConfig } from '../../core/config/load.js';
import type { NodeConfig } from '../../core/config/schema.js';
import type { Consensus, Member } from '../../core/contracts/consensus.js';
import { resolvePlugin } from '../../core/kernel/resolve.js';
import { kvStateMachine, type KvState } from './kv-state-machine.js';

export interface MemberSpec {
  plugin: string;
  /** Where a plugin path is resolved from. */
  baseDir: string;
  nodeId: string;
  dataDir: string;
  /** OLLAMA_* variables the member's config is loaded with, over those of its own environment. */
  env: Record<string, string>;
  /** Values merged over the loaded consensus section (keys without a variable, e.g. voters). */
  consensus: Partial<Omit<NodeConfig['consensus'], 'etcd'>> & { etcd?: Partial<NodeConfig['consensus']['etcd']> };
}

export type Call =
  | { id: number; method: 'propose'; command: { type: string; payload: unknown } }
  | { id: number; method: 'read' }
  | { id: number; method: 'addMember'; member: Member }
  | { id: number; method: 'removeMember'; memberId: string }
  | { id: number; method: 'transferLeadership'; waitMs?: number }
  | { id: number; method: 'stop' };

/** What the parent mirrors so that the contract's synchronous calls answer at once. */
export interface Mirror {
  clusterId: string | null;
  address: string | null;
  leader: { id: string; term: number } | null;
  members: Member[];
  state: KvState;
  index: number;
}

function mirror(consensus: Consensus<KvState>): Mirror {
  const { state, index } = consensus.state();
  return { clusterId: consensus.clusterId() ?? null, address: consensus.address() ?? null, leader: consensus.leader() ?? null, members: consensus.members(), state, index };
}

const write = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.OD_CONSENSUS_MEMBER ?? '') as MemberSpec;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('OLLAMA_'))) as Record<string, string>;
  const loaded = loadConfig({ env: { ...inherited, ...spec.env, OLLAMA_STORAGE_DATA_DIR: spec.dataDir } });
  const settings = { ...loaded.config.consensus, ...spec.consensus, etcd: { ...loaded.config.consensus.etcd, ...spec.consensus.etcd } };
  const config: NodeConfig = { ...loaded.config, consensus: settings };
  const logger = pino({ level: process.env.OD_CONSENSUS_LOG ?? 'warn' }, pino.destination(2));
  const plugin = await resolvePlugin({ kind: 'consensus', key: 'consensus.backend', specifier: spec.plugin, baseDir: spec.baseDir });
  const components = { stateMachine: kvStateMachine, nodeId: spec.nodeId, dataDir: spec.dataDir, logger, config };
  const consensus = plugin.module.default(config.consensus)(components) as Consensus<KvState>;
  await consensus.start();
  consensus.watch((event) => write({ event, mirror: mirror(consensus) }));
  write({ ready: true, mirror: mirror(consensus) });

  const answer = (call: Call, work: () => Promise<unknown>) =>
    work().then(
      (result) => write({ id: call.id, result: result ?? null, mirror: mirror(consensus) }),
      (error: Error & { code?: string }) => write({ id: call.id, error: { message: error.message, code: error.code ?? null, name: error.name }, mirror: mirror(consensus) }),
    );
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    const call = JSON.parse(line) as Call;
    if (call.method === 'propose') void answer(call, () => consensus.propose(call.command));
    else if (call.method === 'read') void answer(call, () => consensus.read());
    else if (call.method === 'addMember') void answer(call, () => consensus.addMember(call.member));
    else if (call.method === 'removeMember') void answer(call, () => consensus.removeMember(call.memberId));
    else if (call.method === 'transferLeadership') void answer(call, () => consensus.transferLeadership(call.waitMs === undefined ? undefined : AbortSignal.timeout(call.waitMs)));
    else if (call.method === 'stop') {
      await answer(call, () => Promise.resolve(consensus.stop()));
      return;
    }
  }
  await consensus.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`consensus member failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
