// pull and push: copy models between a registry and the node at OLLAMA_HOST, with progress bars.
// A failure prints `Error: <message>` and exits 1, as ollama does.

import type { Command } from 'commander';
import { call, ndjson } from './http.js';
import { createProgressView, type ProgressView, type TransferEvent } from './transfer-progress.js';

export interface TransferFlags {
  insecure?: boolean;
}

/** Streams /api/pull or /api/push into `view`; resolves on the node's final "success". */
export async function transfer(kind: 'pull' | 'push', model: string, flags: TransferFlags, view: ProgressView): Promise<void> {
  try {
    const response = await call(`/api/${kind}`, { body: { model, insecure: flags.insecure === true, stream: true } });
    let succeeded = false;
    for await (const event of ndjson<TransferEvent>(response)) {
      view.update(event);
      succeeded = event.status === 'success';
    }
    if (!succeeded) throw new Error(`the node closed the ${kind} stream before it finished`);
  } finally {
    view.stop();
  }
}

function action(kind: 'pull' | 'push') {
  return async (model: string, flags: TransferFlags): Promise<void> => {
    try {
      await transfer(kind, model, flags, createProgressView());
    } catch (error) {
      process.stderr.write(`Error: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

const HOST_HELP = '\nEnvironment Variables:\n  OLLAMA_HOST    The node to talk to (default 127.0.0.1:11434)\n';

export function registerTransferCommands(program: Command): void {
  program
    .command('pull')
    .description('Pull a model from a registry')
    .argument('<model>')
    .option('--insecure', 'Use an insecure registry (plain HTTP)')
    .addHelpText('after', HOST_HELP)
    .action(action('pull'));
  program
    .command('push')
    .description('Push a model to a registry')
    .argument('<model>')
    .option('--insecure', 'Use an insecure registry (plain HTTP)')
    .addHelpText('after', HOST_HELP)
    .action(action('push'));
}
