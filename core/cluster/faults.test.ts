// Faults only a real process shows: a node frozen by SIGSTOP keeps its connections but falls
// silent, and a node started from the CLI under a taken name exits with the reason.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort } from '../../conformance/fixtures/free-port.js';
import { startTestNode, type TestNode } from '../../conformance/fixtures/node.js';
import type { Transport } from '../contracts/transport.js';
import { PACKAGE_ROOT } from '../version.js';
import { EXPIRE_TICK_MS } from './cluster.js';
import type { ClusterView, Member } from './types.js';

const CLI = join(PACKAGE_ROOT, 'dist', 'core', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const FAILURE_TIMEOUT_MS = 2000;
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OLLAMA_')));

interface ChildNode {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/** `ollama-distributed start` in a child process, killed by pid when the test ends however it ends. */
async function spawnNode(t: Test, name: string, bootstrap: string): Promise<ChildNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'od-fault-'));
  const port = await freePort();
  const args = [CLI, 'start', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0', '--bootstrap', bootstrap, '--node-name', name];
  const child = spawn(process.execPath, args, { env: { ...BASE_ENV, OLLAMA_LLAMA_GPU: 'off' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

async function until<T>(value: () => T | undefined | false, withinMs: number, what: string): Promise<T> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    const result = value();
    if (result) return result;
    if (performance.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function member(t: Test): Promise<{ host: TestNode; bootstrap: string }> {
  const host = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'host', OLLAMA_P2P_FAILURE_TIMEOUT: `${FAILURE_TIMEOUT_MS}ms` } });
  t.teardown(() => host.stop());
  return { host, bootstrap: host.node.component<Transport>('transport').addresses()[0]! };
}

t.test('a frozen node leaves within failure_timeout + 500 ms and returns when it runs again; a killed one leaves at once', async (t) => {
  const { host, bootstrap } = await member(t);
  const view = host.node.component<ClusterView>('cluster');
  const frozen = await spawnNode(t, 'frozen', bootstrap);
  const seen = () => view.members().find((m: Member) => m.name === 'frozen');
  await until(() => seen()?.healthy, 30_000, `the child joining:\n${frozen.output()}`);
  t.match(seen(), { engine: 'llama-cpp', gpus: [], apiUrl: frozen.url }, 'a CPU-only node announces no GPUs');

  // The last word before the freeze: silence counts from there.
  const lastSeen = seen()!.lastSeen;
  process.kill(frozen.child.pid!, 'SIGSTOP');
  const stoppedAt = Date.now();
  await until(() => seen()?.healthy === false, FAILURE_TIMEOUT_MS + 1500, 'the frozen node unhealthy');
  const goneAt = Date.now();
  t.ok(goneAt - stoppedAt <= FAILURE_TIMEOUT_MS + 500, `unhealthy ${goneAt - stoppedAt} ms after SIGSTOP (failure_timeout ${FAILURE_TIMEOUT_MS} ms)`);
  t.ok(goneAt - lastSeen >= FAILURE_TIMEOUT_MS, `by silence: ${goneAt - lastSeen} ms after it was last heard`);
  t.ok(goneAt - seen()!.lastSeen <= FAILURE_TIMEOUT_MS + EXPIRE_TICK_MS + 100, 'within one expiry tick of the timeout');

  process.kill(frozen.child.pid!, 'SIGCONT');
  const resumedAt = Date.now();
  await until(() => seen()?.healthy, 3000, 'the resumed node healthy again');
  t.pass(`healthy again ${Date.now() - resumedAt} ms after SIGCONT`);

  // kill -9: the kernel closes its sockets, so the host hears the connection drop at once.
  process.kill(frozen.child.pid!, 'SIGKILL');
  const killedAt = Date.now();
  await until(() => seen()?.healthy === false, FAILURE_TIMEOUT_MS, 'the killed node unhealthy');
  t.ok(Date.now() - killedAt < FAILURE_TIMEOUT_MS / 2, `unhealthy ${Date.now() - killedAt} ms after kill -9, by its dropped connection`);
});

t.test('a node started under a taken name exits with the reason; the name keeps its node', async (t) => {
  const { host, bootstrap } = await member(t);
  const started = Date.now();
  const rival = await spawnNode(t, 'host', bootstrap);
  let giveUp: NodeJS.Timeout | undefined;
  const code = await Promise.race([rival.exited, new Promise<'running'>((resolve) => (giveUp = setTimeout(() => resolve('running'), 30_000)))]);
  clearTimeout(giveUp);
  t.equal(code, 1, `the rival exits 1 (after ${Date.now() - started} ms)`);
  t.match(
    rival.output(),
    `node name 'host' is already taken by node ${host.node.nodeId} at ${host.url}; choose another with --node-name or OLLAMA_NODE_NAME`,
  );
  const view = host.node.component<ClusterView>('cluster');
  t.equal(view.member('host')?.id, host.node.nodeId);
  t.same(view.members().filter((m) => m.healthy).map((m) => m.id), [host.node.nodeId], 'the rival is not in the pool');
});
