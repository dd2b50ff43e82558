// `ollama-distributed conformance consensus --plugin <name|path>`: runs the consensus conformance
// suite against a plugin, each member a real process, and exits with the suite's status.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PACKAGE_ROOT } from '../version.js';

const SUITE = join(PACKAGE_ROOT, 'dist', 'conformance', 'consensus', 'plugin-suite.js');
const TAP = join(PACKAGE_ROOT, 'node_modules', '.bin', 'tap');

export async function consensusConformance(flags: { plugin: string; membership: boolean }): Promise<void> {
  for (const [what, file] of [['the suite', SUITE], ['tap', TAP]] as const) {
    if (!existsSync(file)) {
      process.stderr.write(`Error: ${what} is missing at ${file}: run npm ci && npm run build in ${PACKAGE_ROOT}\n`);
      process.exitCode = 1;
      return;
    }
  }
  const looksLikePath = flags.plugin.startsWith('.') || isAbsolute(flags.plugin);
  const plugin = looksLikePath ? resolve(flags.plugin) : flags.plugin;
  const child = spawn(TAP, ['--timeout', '600', SUITE], {
    cwd: PACKAGE_ROOT,
    stdio: 'inherit',
    env: { ...process.env, OD_CONSENSUS_PLUGIN: plugin, OD_CONSENSUS_BASEDIR: process.cwd(), OD_CONSENSUS_MEMBERSHIP: String(flags.membership) },
  });
  process.exitCode = await new Promise<number>((done) => child.once('exit', (code) => done(code ?? 1)));
}

export function registerConformanceCommands(program: Command): void {
  const conformance = program.command('conformance').description('run a conformance suite against a plugin');
  conformance
    .command('consensus')
    .description('the consensus suite: one leader per term, failover, no lost writes, membership, linearizable reads under crashes')
    .requiredOption('--plugin <name|path>', 'a built-in consensus backend (raft, etcd) or a plugin module path')
    .option('--no-membership', 'skip the membership check, for backends whose members cannot be added and removed')
    .addHelpText('after', '\nMembers read OLLAMA_* variables from this environment (e.g. OLLAMA_CONSENSUS_ETCD_ENDPOINTS).')
    .action((flags: { plugin: string; membership: boolean }) => consensusConformance(flags));
}
