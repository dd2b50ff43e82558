// The node's data directory: its stable id, and the lock that marks a running node. The lock is a
// unix socket the node listens on, so it ends with the process however the process ends.

import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { ProductError } from '../errors.js';

/** For people and scripts; `stop` trusts it only while the lock's holder is alive. */
export const PID_FILE = 'ollama-distributed.pid';
export const LOCK_SOCKET = 'node.sock';
const NODE_ID_FILE = 'node-id';
/** sun_path holds 108 bytes with its NUL; Node silently cuts a longer path, which would lock another file. */
const MAX_SOCKET_PATH = 107;
/** A holder that accepts but does not answer in this time is alive but busy. */
const ANSWER_TIMEOUT_MS = 2000;

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o644 });
  renameSync(temp, file);
}

/** Creates the data dir if needed and returns the node's id, made on first use. */
export function nodeIdOf(dataDir: string): string {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  try {
    return readFileSync(join(dir, NODE_ID_FILE), 'utf8').trim();
  } catch {
    const nodeId = randomUUID();
    writeAtomically(join(dir, NODE_ID_FILE), `${nodeId}\n`);
    return nodeId;
  }
}

function pidFromFile(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

type Probe = { alive: false } | { alive: true; pid: number | undefined };

function pidOfAnswer(answer: string): number | undefined {
  try {
    const pid = Number((JSON.parse(answer) as { pid?: unknown }).pid);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Asks the lock socket who holds it. Refused or absent: nobody, whatever the pid file says. */
function probe(socketPath: string): Promise<Probe> {
  return new Promise((done, fail) => {
    let answer = '';
    let connected = false;
    const socket = connect(socketPath);
    const timer = setTimeout(() => socket.destroy(), ANSWER_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => (connected = true));
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (connected) return;
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') done({ alive: false });
      else fail(error);
    });
    // A connect still pending at the timeout means a full backlog: the holder lives but is stuck.
    socket.on('close', () => {
      clearTimeout(timer);
      done({ alive: true, pid: pidOfAnswer(answer) });
    });
  });
}

/**
 * The node holding the data dir, or undefined when none lives. A holder too busy to answer is
 * still alive; its pid then comes from the pid file it wrote after taking the lock, if it did.
 */
export async function runningNode(dataDir: string): Promise<{ pid: number | undefined } | undefined> {
  const dir = resolve(dataDir);
  const found = await probe(join(dir, LOCK_SOCKET));
  return found.alive ? { pid: found.pid ?? pidFromFile(dir) } : undefined;
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(path, () => {
      server.off('error', fail);
      done();
    });
  });
}

export interface DataDirLock {
  /** Frees the data dir: closes the lock socket (which removes its file) and removes the pid file. */
  release(): Promise<void>;
}

/** Takes the data dir for this process; refuses while another live node holds it. */
export async function lockDataDir(dataDir: string, nodeId: string): Promise<DataDirLock> {
  const dir = resolve(dataDir);
  const socketPath = join(dir, LOCK_SOCKET);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new ProductError('OD_ERR_CONFIG', `storage.data_dir ${dir} is too long for its lock socket ${LOCK_SOCKET}: use a path under ${MAX_SOCKET_PATH - LOCK_SOCKET.length - 1} bytes`);
  }
  mkdirSync(dir, { recursive: true });
  const answer = `${JSON.stringify({ pid: process.pid, node_id: nodeId })}\n`;
  const server = createServer((socket) => socket.end(answer));
  server.unref();
  for (let attempt = 0; ; attempt += 1) {
    try {
      await listen(server, socketPath);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt > 0) throw error;
      const holder = await probe(socketPath);
      if (holder.alive) {
        const who = holder.pid ?? pidFromFile(dir);
        throw new ProductError('OD_ERR_NODE_RUNNING', `a node${who ? ` (pid ${who})` : ''} already runs on data dir ${dir}`);
      }
      // The holder died without closing its socket (a crash or kill -9): the file is all that is left.
      rmSync(socketPath, { force: true });
    }
  }
  writeAtomically(join(dir, PID_FILE), `${process.pid}\n`);
  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= new Promise<void>((done) => {
        if (pidFromFile(dir) === process.pid) rmSync(join(dir, PID_FILE), { force: true });
        server.close(() => done());
      })),
  };
}
