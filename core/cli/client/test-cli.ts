// What the client command tests share: the compiled CLI run as a user runs it, against a node.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = resolve(fileURLToPath(import.meta.url), '../../../../dist/core/cli/main.js');

/** The test process's environment less its OLLAMA_* variables, so only what a test passes speaks. */
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OLLAMA_')));

/** Runs `ollama-distributed ARGS` with `env` added; resolves with its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:ts first`);
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** Runs `ollama-distributed ARGS` against the node at `host`. */
export const cli = (args: string[], host: string) => runCli(args, { OLLAMA_HOST: host });
