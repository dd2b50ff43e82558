// A new model file is loaded once in a throwaway child process before the node accepts it:
// llama.cpp aborts its whole process on some malformed models that no header check can foresee.

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProductError } from '../../core/errors.js';

/** Loading, tokenizing and one step of a model on the CPU; past this the file is refused as hanging. */
const TRIAL_TIMEOUT_MS = 120_000;

/** The compiled child: from dist/ itself, or from dist/ beside the sources when they run directly. */
function childScript(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return join(dirname(here), 'model-trial-child.js');
  return join(dirname(here), '..', '..', 'dist', 'plugins', 'engine-llama-cpp', 'model-trial-child.js');
}

/** Resolves when llama.cpp loads `modelPath` and runs a step on it; else a 400 saying how it failed. */
export function trialLoad(modelPath: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript(), modelPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '' },
      timeout: TRIAL_TIMEOUT_MS,
      ...(signal ? { signal } : {}),
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4096)));
    child.on('error', (error) => reject(error));
    child.on('close', (code, killedBy) => {
      if (code === 0) return resolve();
      const reason = lastLine(stderr) ?? (killedBy ? `the trial process ended on ${killedBy}` : `the trial process exited with ${code}`);
      reject(new ProductError('OD_ERR_BAD_REQUEST', `llama.cpp cannot run this model: ${reason}`));
    });
  });
}

function lastLine(text: string): string | undefined {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('at '));
  return lines.at(-1)?.replace(/^.*\/llama\.cpp\//, '');
}
