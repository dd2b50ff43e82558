// The node's data directory: its stable id and the pid file that marks a running node, so
// `stop` and `status` find it and two nodes never share one directory.

import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ProductError } from '../errors.js';

export const PID_FILE = 'ollama-distributed.pid';
const NODE_ID_FILE = 'node-id';

export function pidFile(dataDir: string): string {
  return join(resolve(dataDir), PID_FILE);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the node running on this data dir, if one is. */
export function runningPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile(dataDir), 'utf8').trim());
  } catch {
    return undefined;
  }
  return Number.isSafeInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o644 });
  renameSync(temp, file);
}

/** Creates the data dir and claims it for this process; refuses when another live node holds it. */
export function claimDataDir(dataDir: string): { nodeId: string; release: () => void } {
  const dir = resolve(dataDir);
  const other = runningPid(dir);
  if (other !== undefined && other !== process.pid) {
    throw new ProductError('OD_ERR_NODE_RUNNING', `a node (pid ${other}) already runs on data dir ${dir}`);
  }
  mkdirSync(dir, { recursive: true });
  writeAtomically(join(dir, PID_FILE), `${process.pid}\n`);
  let nodeId: string;
  try {
    nodeId = readFileSync(join(dir, NODE_ID_FILE), 'utf8').trim();
  } catch {
    nodeId = randomUUID();
    writeAtomically(join(dir, NODE_ID_FILE), `${nodeId}\n`);
  }
  return {
    nodeId,
    release: () => {
      if (runningPid(dir) === process.pid) rmSync(join(dir, PID_FILE), { force: true });
    },
  };
}
