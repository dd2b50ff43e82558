// `ollama-distributed conformance consensus|balancer --plugin <name|path>`: runs a conformance suite
// against a plugin (for consensus each member a real process) and exits with the suite's status.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PACKAGE_ROOT } from '../version.js';

const TAP = join(PACKAGE_ROOT, 'node_modules', '.bin', 'tap');
const suite = (kind: string) => join(PACKAGE_ROOT, 'dist', 'conformance', kind, 'plugin-suite.js');

/** A path is taken from where the command runs; a bare name is a built-in or a package. */
function pluginSpecifier(plugin: string): string {
  return plugin.startsWith('.') || isAbsolute(plugin) ? resolve(plugin) : plugin;
}

async function runSuite(kind: 'consensus' | 'balancer', env: Record<string, string>): Promise<void> {
  for (const [what, file] of [['the suite', suite(kind)], ['tap', TAP]] as const) {
    if (!existsSync(file)) {
      process.stderr.write(`Error: ${what} is missing at ${file}: run npm ci && npm run build in ${PACKAGE_ROOT}\n`);
      process.exitCode = 1;
      return;
    }
  }
  const child = spawn(TAP, ['--timeout', '600', suite(kind)], { cwd: PACKAGE_ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  process.exitCode = await new Promise<number>((done) => child.once('exit', (code) => done(code ?? 1)));
}

export function consensusConformance(flags: { plugin: string; membership: boolean }): Promise<void> {
  return runSuite('consensus', {
    OD_CONSENSUS_PLUGIN: pluginSpecifier(flags.plugin),
    OD_CONSENSUS_BASEDIR: process.cwd(),
    OD_CONSENSUS_MEMBERSHIP: String(flags.membership),
  });
}

export function balancerConformance(flags: { plugin: string; options: string }): Promise<void> {
  try {
    const options: unknown = JSON.parse(flags.options);
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new Error('not a JSON object');
  } catch (error) {
    process.stderr.write(`Error: --options ${flags.options}: must be a JSON object (${(error as Error).message})\n`);
    process.exitCode = 2;
    return Promise.resolve();
  }
  return runSuite('balancer', { OD_BALANCER_PLUGIN: pluginSpecifier(flags.plugin), OD_BALANCER_BASEDIR: process.cwd(), OD_BALANCER_OPTIONS: flags.options });
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
  conformance
    .command('balancer')
    .description('the balancer suite: picks among the candidates given, under interleaved concurrent requests and odd figures, without blocking, in bounded memory')
    .requiredOption('--plugin <name|path>', 'a built-in balancer (round_robin, least_connections, random, adaptive, affinity) or a plugin module path')
    .option('--options <json>', "the plugin's scheduler.options, as a JSON object", '{}')
    .action((flags: { plugin: string; options: string }) => balancerConformance(flags));
}
