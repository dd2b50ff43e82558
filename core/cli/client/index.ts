// Client commands like the ollama CLI's (create, run, list, ps, show, cp, rm) and the cluster's
// (nodes, drain, undrain, replicas), talking to the node at OLLAMA_HOST. A failure prints `Error: <message>` and exits 1, as ollama does.

import type { Command } from 'commander';
import { createCommand } from './create.js';
import { copyCommand, listCommand, psCommand, removeCommand } from './models.js';
import { drainCommand, nodesCommand, removeNodeCommand } from './nodes.js';
import { replicasCommand } from './replicas.js';
import { runCommand, type RunFlags } from './run.js';
import { showCommand, type ShowFlags } from './show.js';
import { transfersCommand } from './transfers.js';

const HOST_HELP = '\nEnvironment Variables:\n  OLLAMA_HOST    The node to talk to (default 127.0.0.1:11434)\n';

/** Runs a client command, printing `Error: <message>` and setting exit status 1 when it fails. */
export function reported<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await action(...args);
    } catch (error) {
      process.stderr.write(`Error: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

export function registerClientCommands(program: Command): void {
  program
    .command('create')
    .description('Create a model from a Modelfile')
    .argument('<model>')
    .option('-f, --file <path>', 'Name of the Modelfile (default "Modelfile")')
    .addHelpText('after', HOST_HELP)
    .action(reported((model: string, flags: { file?: string }) => createCommand(model, flags)));

  program
    .command('show')
    .description('Show information for a model')
    .argument('<model>')
    .option('--license', 'Show license of a model')
    .option('--modelfile', 'Show Modelfile of a model')
    .option('--parameters', 'Show parameters of a model')
    .option('--template', 'Show template of a model')
    .option('--system', 'Show system message of a model')
    .option('--verbose', 'Show detailed model information')
    .addHelpText('after', HOST_HELP)
    .action(reported((model: string, flags: ShowFlags) => showCommand(model, flags)));

  program
    .command('run')
    .description('Run a model')
    .argument('<model>')
    .argument('[prompt...]')
    .option('--format <format>', 'Response format (e.g. json)')
    .option('--keepalive <duration>', 'Duration to keep a model loaded (e.g. 5m)')
    .option('--verbose', 'Show timings for response')
    .option('--nowordwrap', 'Accepted for compatibility: output is never wrapped')
    .addHelpText('after', HOST_HELP)
    .action(reported((model: string, prompt: string[], flags: RunFlags) => runCommand(model, prompt, flags)));

  program
    .command('list')
    .alias('ls')
    .description('List models')
    .argument('[prefix]')
    .addHelpText('after', HOST_HELP)
    .action(reported((prefix: string | undefined) => listCommand(prefix)));

  program
    .command('ps')
    .description('List running models')
    .argument('[prefix]')
    .addHelpText('after', HOST_HELP)
    .action(reported((prefix: string | undefined) => psCommand(prefix)));

  program
    .command('cp')
    .description('Copy a model')
    .argument('<source>')
    .argument('<destination>')
    .addHelpText('after', HOST_HELP)
    .action(reported((source: string, destination: string) => copyCommand(source, destination)));

  program
    .command('rm')
    .description('Remove a model')
    .argument('<model...>')
    .addHelpText('after', HOST_HELP)
    .action(reported((models: string[]) => removeCommand(models)));

  const nodes = program
    .command('nodes')
    .description('List the nodes of the cluster with their consensus roles')
    .option('--json', 'Print the nodes as JSON')
    .addHelpText('after', HOST_HELP)
    .action(reported((flags: { json?: boolean }) => nodesCommand(flags)));
  nodes
    .command('remove')
    .description('Take a node out of the cluster for good: it loses its vote and is never admitted again')
    .argument('<node>', 'Node id or name')
    .addHelpText('after', HOST_HELP)
    .action(reported((node: string) => removeNodeCommand(node)));

  program
    .command('transfers')
    .description('Show the model copies this node makes from its peers, with progress, speed and time left')
    .option('--json', 'Print the copies as JSON')
    .option('-w, --watch', 'Redraw the progress bars until every copy ends')
    .addHelpText('after', HOST_HELP)
    .action(reported((flags: { json?: boolean; watch?: boolean }) => transfersCommand(flags)));

  program
    .command('drain')
    .description('Take a node out of the routing pool: it finishes what it runs and takes nothing new')
    .argument('<node>', 'Node id or name')
    .addHelpText('after', HOST_HELP)
    .action(reported((node: string) => drainCommand(node, true)));

  program
    .command('replicas')
    .description('Set how many nodes should hold a model; without arguments, list each model\'s replicas and where they are')
    .argument('[model]')
    .argument('[count]', 'Nodes that should hold the model')
    .addHelpText('after', HOST_HELP)
    .action(reported((model: string | undefined, count: string | undefined) => replicasCommand(model, count)));

  program
    .command('undrain')
    .description('Put a drained node back in the routing pool')
    .argument('<node>', 'Node id or name')
    .addHelpText('after', HOST_HELP)
    .action(reported((node: string) => drainCommand(node, false)));
}
