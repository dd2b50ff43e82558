// pull and push: copy models between a registry and the node at OLLAMA_HOST, with progress bars.

import type { Command } from 'commander';

export function registerTransferCommands(_program: Command): void {}
