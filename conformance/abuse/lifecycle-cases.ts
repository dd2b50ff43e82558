// What only a node on this machine can show: a stop that always stops, a pid file that cannot
// point at a stranger, blobs nobody names removed, and a config that lies refused at start.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Test } from 'tap';
import { CLI } from './child-node.js';
import type { LocalNode } from './harness.js';
import { send } from './raw-http.js';
import { freePort } from '../fixtures/free-port.js';

/**
 * The node runs with node.stop_timeout 5s: it may finish work first, but not for ever. After the
 * timeout it cuts what runs and is gone within 2 s more; the rest is slack for a loaded machine.
 */
const STOP_DEADLINE_MS = 10_000;
const PID_FILE = 'ollama-distributed.pid';
const OLD = new Date(Date.now() - 2 * 86_400_000);

interface Manifest {
  config: { digest: string };
  layers: { digest: string }[];
}

function manifests(modelDir: string): string[] {
  const root = join(modelDir, 'manifests');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

const digestsIn = (path: string) => {
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  return [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)];
};
const blobPath = (modelDir: string, digest: string) => join(modelDir, 'blobs', digest.replace(':', '-'));

/** Blobs among `digests` still on disk that no manifest names. */
function orphans(modelDir: string, digests: readonly string[]): string[] {
  const named = new Set(manifests(modelDir).flatMap(digestsIn));
  return digests.filter((digest) => !named.has(digest) && existsSync(blobPath(modelDir, digest)));
}


/** Starts the node again for the cases after this one, clearing a stale pid file if it must. */
async function revive(t: Test, node: LocalNode): Promise<void> {
  try {
    await node.restart();
  } catch (error) {
    t.comment(`the node did not start again (${(error as Error).message.split('\n')[0]}); removing its pid file and retrying`);
    rmSync(join(node.dataDir, PID_FILE), { force: true });
    await node.restart();
  }
}

export function lifecycleCases(t: Test, local: () => { node: LocalNode; model: string; prefix: string }): void {
  t.test(`SIGTERM ends the node within ${STOP_DEADLINE_MS / 1000} s though a request never finishes`, async (t) => {
    const { node } = local();
    const pid = node.pid()!;
    // An upload that sends one byte every 200 ms: in flight for as long as the node lets it be.
    const upload = request(`${node.url}/api/blobs/sha256:${'1'.repeat(64)}`, { method: 'POST', agent: false, headers: { 'content-length': 1 << 20 } });
    upload.on('error', () => undefined);
    const trickle = setInterval(() => upload.write('x'), 200);
    t.teardown(() => {
      clearInterval(trickle);
      upload.destroy();
    });
    await sleep(600);
    const started = Date.now();
    process.kill(pid, 'SIGTERM');
    const exited = await node.exitsWithin(STOP_DEADLINE_MS);
    t.ok(exited, `the node exits ${exited ? `after ${Date.now() - started} ms` : `no later than ${STOP_DEADLINE_MS} ms`} after SIGTERM`);
    await revive(t, node);
  });

  t.test('after kill -9, a stale pid file neither stops a stranger nor keeps a node from starting', async (t) => {
    const { node } = local();
    const pid = node.pid()!;
    await node.kill();
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    t.teardown(() => void stranger.kill('SIGKILL'));
    // The kernel may give the dead node's pid to anyone; the stranger stands for that process.
    const pidPath = join(node.dataDir, PID_FILE);
    if (existsSync(pidPath)) writeFileSync(pidPath, readFileSync(pidPath, 'utf8').replaceAll(String(pid), String(stranger.pid)));
    const stop = node.cli(['stop', '--timeout', '3'], 10_000);
    await sleep(300);
    // spawnSync held this event loop, so the stranger's end, if it came, is only seen now.
    const fate = stranger.signalCode ? `it got ${stranger.signalCode}` : 'it lives';
    t.ok(stranger.exitCode === null && stranger.signalCode === null, `stop leaves the stranger alone: ${fate} (stop said: ${(stop.stdout + stop.stderr).trim()})`);
    let started = true;
    try {
      await node.restart();
    } catch (error) {
      started = false;
      t.comment((error as Error).message.split('\n').slice(0, 3).join(' '));
    }
    t.ok(started, 'a node starts on the data dir');
    if (!started) await revive(t, node);
  });

  t.test('blobs no manifest names are removed on overwrite, on delete and at start', async (t) => {
    const { node, model, prefix } = local();
    const name = `${prefix}-blobs`;
    const manifestPath = join(node.modelDir, 'manifests', 'registry.ollama.ai', 'library', name, 'latest');
    let previous: string[] = [];
    for (let version = 0; version < 4; version++) {
      const created = await send(node.url, '/api/create', { body: { model: name, from: model, system: `version ${version}`, stream: false } });
      t.equal(created.status, 200, `create version ${version} (${created.text.slice(0, 200)})`);
      t.same(orphans(node.modelDir, previous), [], `overwrite ${version} leaves no blob of the version it replaced`);
      previous = existsSync(manifestPath) ? digestsIn(manifestPath) : [];
    }
    t.equal((await send(node.url, '/api/delete', { method: 'DELETE', body: { model: name } })).status, 200, 'delete');
    t.same(orphans(node.modelDir, previous), [], 'the delete leaves none of its blobs that no other model names');

    await node.kill();
    const leftover = blobPath(node.modelDir, `sha256:${randomBytes(32).toString('hex')}`);
    const partial = `${blobPath(node.modelDir, `sha256:${randomBytes(32).toString('hex')}`)}-partial`;
    for (const file of [leftover, partial]) {
      writeFileSync(file, 'left by a node that died');
      utimesSync(file, OLD, OLD);
    }
    await node.restart();
    t.notOk(existsSync(leftover), 'a start prunes an old blob no manifest names');
    t.notOk(existsSync(partial), 'and an old -partial file');
  });

  t.test('auth enabled with method none is refused at start', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'od-abuse-lies-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_METHOD: 'none' };
    const args = [CLI, 'start', '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${await freePort()}`, '--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--consensus-bind', '127.0.0.1:0'];
    const start = spawnSync(process.execPath, args, { env, cwd: dir, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
    t.ok(start.status !== null && start.status !== 0, `start exits with a failure status, not serving (status ${start.status}, signal ${start.signal})`);
    t.match(start.stderr, /security\.auth/, 'naming the keys that contradict each other');
  });
}
