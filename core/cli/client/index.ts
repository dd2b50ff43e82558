// Client commands like the ollama CLI's, talking to OLLAMA_HOST.

import type { Command } from 'commander';

export function registerClientCommands(_program: Command): void {}
