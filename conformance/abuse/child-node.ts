// A node run as users run it, `ollama-distributed start` from dist/, in a child process inside a
// memory cgroup, with its own home, temp and working dirs beside its data dir so stray writes show.

import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PACKAGE_ROOT } from '../../core/version.js';
import { MemoryCgroup } from './memory-cgroup.js';
import { freePort } from '../fixtures/free-port.js';

export const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');

const START_TIMEOUT_MS = 30_000;
const TAIL_BYTES = 16_384;

export interface ChildNodeOptions {
  /** The node's OLLAMA_* settings. */
  env: Record<string, string>;
  memoryLimitBytes: number;
}


export class ChildNode {
  /** Holds data/, home/, tmp/ and cwd/: the node may write only under data/. */
  readonly root: string;
  readonly dataDir: string;
  readonly url: string;
  private child: ChildProcess | undefined;
  private output = '';
  private readonly cgroup: MemoryCgroup;
  private readonly onExit = () => {
    this.killNow();
    this.cgroup.removeNow();
  };

  private constructor(
    private readonly options: ChildNodeOptions,
    private readonly port: number,
  ) {
    // The group first: it is what can fail, and then nothing is left behind.
    this.cgroup = new MemoryCgroup(`od-abuse-${process.pid}-${port}`, options.memoryLimitBytes);
    this.root = mkdtempSync(join(tmpdir(), 'od-abuse-'));
    this.dataDir = join(this.root, 'data');
    for (const dir of ['data', 'home', 'tmp', 'cwd']) mkdirSync(join(this.root, dir));
    this.url = `http://127.0.0.1:${port}`;
    process.once('exit', this.onExit);
  }

  static async start(options: ChildNodeOptions): Promise<ChildNode> {
    const node = new ChildNode(options, await freePort());
    try {
      await node.spawn();
    } catch (error) {
      await node.dispose();
      throw error;
    }
    return node;
  }

  get modelDir(): string {
    return join(this.dataDir, 'models');
  }

  /** The node's pid while it runs. */
  pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** The end of what the node wrote to stdout and stderr, for failure messages. */
  get outputTail(): string {
    return this.output.slice(-TAIL_BYTES);
  }

  oomKills(): number {
    return this.cgroup.oomKills();
  }

  private env(): Record<string, string> {
    const home = join(this.root, 'home');
    return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, TMPDIR: join(this.root, 'tmp'), ...this.options.env };
  }

  private async spawn(): Promise<void> {
    const args = [CLI, 'start', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0'];
    // The shell joins the cgroup, then becomes the node: no moment runs uncapped.
    const child = spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', this.cgroup.tasksFile, process.execPath, ...args], {
      cwd: join(this.root, 'cwd'),
      env: this.env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString('utf8')).slice(-TAIL_BYTES));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.pid() === undefined) throw new Error(`the node exited while starting (${child.exitCode ?? child.signalCode}):\n${this.outputTail}`);
      try {
        const response = await fetch(`${this.url}/api/version`, { signal: AbortSignal.timeout(1000) });
        await response.body?.cancel();
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    await this.kill();
    throw new Error(`the node did not answer within ${START_TIMEOUT_MS} ms:\n${this.outputTail}`);
  }

  private killNow(): void {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** SIGKILLs the node by pid and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.pid() === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    this.killNow();
    await exited;
  }

  /** Kills the node and starts it again on the same data dir and port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  /** Waits up to `ms` for the node to exit by itself; true when it did. */
  async exitsWithin(ms: number): Promise<boolean> {
    const child = this.child;
    if (!child || this.pid() === undefined) return true;
    return Promise.race([new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))), sleep(ms).then(() => false)]);
  }

  /** Runs another CLI command against this node's data dir, as an operator would. */
  cli(args: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [CLI, ...args, '--data-dir', this.dataDir], {
      cwd: join(this.root, 'cwd'),
      env: this.env(),
      encoding: 'utf8',
      timeout: timeoutMs,
    });
  }

  /** Kills the node, removes its cgroup and every file it had. */
  async dispose(): Promise<void> {
    await this.kill();
    await this.cgroup.remove();
    process.off('exit', this.onExit);
    if (existsSync(this.root)) rmSync(this.root, { recursive: true, force: true });
  }
}
