// `ollama-distributed consensus recover`: after a cluster lost its quorum for good, makes this
// stopped node the only voter of its cluster, keeping everything its consensus state holds
// (etcd's --force-new-cluster is the model). Start it again, then give the other nodes empty
// consensus data dirs: the new leader admits them as it admits any node.

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lockDataDir, nodeIdOf } from '../node/data-dir.js';
import { configOrReport, type ConfigFlags } from './config-inputs.js';

export async function recoverCommand(flags: ConfigFlags): Promise<void> {
  const loaded = configOrReport(flags);
  if (!loaded) return;
  const { config } = loaded;
  if (config.consensus.backend !== 'raft') {
    process.stderr.write(`Error: consensus.backend is ${config.consensus.backend}; recover its own cluster instead (for etcd: etcd --force-new-cluster)\n`);
    process.exitCode = 2;
    return;
  }
  const dataDir = config.storage.data_dir;
  if (!existsSync(join(dataDir, 'node-id'))) {
    process.stderr.write(`Error: ${dataDir} is not a node's data dir\n`);
    process.exitCode = 1;
    return;
  }
  const nodeId = nodeIdOf(dataDir);
  let lock;
  try {
    lock = await lockDataDir(dataDir, nodeId);
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}; stop it first\n`);
    process.exitCode = 1;
    return;
  }
  try {
    const { recoverAlone } = await import('../../plugins/consensus-raft/recover.js');
    const recovered = await recoverAlone(config.consensus.data_dir, nodeId);
    const others = recovered.removed.length > 0 ? `; removed ${recovered.removed.join(', ')}` : '';
    process.stdout.write(`node ${nodeId} is now the only voter of cluster ${recovered.clusterId}, with everything up to index ${recovered.index}${others}.\n`);
    process.stdout.write('Start it, then start the other nodes on empty consensus data dirs to rejoin.\n');
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await lock.release();
  }
}

export function registerConsensusCommands(program: Command, withConfigOptions: (command: Command) => Command): void {
  const consensus = program.command('consensus').description('the cluster\'s consensus members');
  withConfigOptions(
    consensus
      .command('recover')
      .description('make this stopped node the only voter of its cluster, after the cluster lost its quorum for good'),
  ).action((flags: ConfigFlags) => recoverCommand(flags));
}
