#!/usr/bin/env node
// The ollama-distributed command: runs and controls a node, and talks to one like the ollama CLI.

import { Command, Option } from 'commander';
import { PRODUCT_VERSION } from '../version.js';
import type { ConfigFlags } from './config-inputs.js';
import { registerClientCommands } from './client/index.js';
import { registerCertsCommands } from './certs.js';
import { registerClusterKeyCommand } from './cluster-key.js';
import { registerConformanceCommands } from './conformance.js';
import { registerConsensusCommands } from './consensus-recover.js';
import { registerTransferCommands } from './client/transfer.js';
import { configPrintCommand, startCommand, statusCommand, stopCommand } from './node-commands.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** The options that locate and configure a node; every node command takes them. */
function withConfigOptions(command: Command): Command {
  return command
    .option('--config <file>', 'YAML config file (see config/node.yaml)')
    .option('--listen <host:port>', 'API address (api.listen)')
    .option('--p2p-listen <multiaddr>', 'P2P address (p2p.listen)')
    .option('--consensus-bind <host:port>', 'Raft address (consensus.bind_addr)')
    .option('--data-dir <dir>', 'data directory (storage.data_dir)')
    .option('--bootstrap <multiaddr>', 'peer to join through; repeatable (p2p.bootstrap)', collect)
    .option('--enable-web', 'serve the web panel (web.enabled)')
    .addOption(new Option('--log-level <level>', 'logging.level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']))
    .option('--node-name <name>', 'node.name')
    .option('--insecure', 'start even if listening beyond loopback without auth or a cluster key (security.insecure)');
}

export function buildProgram(): Command {
  const program = new Command('ollama-distributed')
    .description('Many GPU machines, one Ollama: run and control a node of the cluster')
    .version(PRODUCT_VERSION, '-v, --version')
    .showHelpAfterError()
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });

  withConfigOptions(program.command('start').description('start a node and serve the API')).action((flags: ConfigFlags) => startCommand(flags));
  withConfigOptions(program.command('stop').description('stop the node running on the data dir after in-flight requests finish'))
    .option('--timeout <seconds>', 'how long to wait for it to exit (default: node.stop_timeout + 7s)')
    .action((flags) => stopCommand(flags));
  withConfigOptions(program.command('status').description("show the node's health"))
    .option('--json', 'print JSON')
    .action((flags) => statusCommand(flags));
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`ollama-distributed ${PRODUCT_VERSION}\n`);
    });
  const config = program.command('config').description('inspect the configuration');
  withConfigOptions(config.command('print').description('print the effective config and where each value came from'))
    .option('--json', 'print JSON')
    .action((flags) => configPrintCommand(flags));
  registerClientCommands(program);
  registerTransferCommands(program);
  registerClusterKeyCommand(program);
  registerCertsCommands(program);
  registerConsensusCommands(program, withConfigOptions);
  registerConformanceCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
