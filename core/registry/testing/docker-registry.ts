// Starts Debian's docker-registry (the CNCF distribution registry) on a free loopback port with its
// own config and a temporary filesystem store, for tests and benchmarks that need a real registry.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port, as a model name spells the registry. */
  host: string;
  url: string;
  storageDir: string;
  /** Where the registry keeps a blob's bytes, to corrupt it in tests. */
  blobDataPath(digest: string): string;
  stop(): Promise<void>;
}

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address !== 'object') throw new Error('no port from the loopback listener');
  return address.port;
}

/** Listens on `host` only (127.0.0.1 unless told), no auth, deletes allowed, logs quiet. */
function registryConfig(storageDir: string, host: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(join(storageDir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}:${port}`,
    '',
  ].join('\n');
}

export interface TestRegistryOptions {
  /** The address to listen on. */
  listen?: string;
  /** A command line the registry starts under, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  wrap?: string[];
}

export async function startDockerRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const storageDir = await mkdtemp(join(tmpdir(), 'od-registry-'));
  const port = await freeLoopbackPort();
  const configPath = join(storageDir, 'config.yml');
  const listen = options.listen ?? '127.0.0.1';
  await writeFile(configPath, registryConfig(storageDir, listen, port));
  const [command, ...args] = [...(options.wrap ?? []), DOCKER_REGISTRY_BIN, 'serve', configPath];
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const host = `${listen}:${port}`;
  const url = `http://${host}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(storageDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(url, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host,
    url,
    storageDir,
    blobDataPath: (digest) => {
      const hex = digest.slice('sha256:'.length);
      return join(storageDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}

async function waitUntilServing(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    try {
      const response = await request(`${url}/v2/`);
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`docker-registry did not answer on ${url} within 15 s: ${stderr()}`);
}

/** Why registry tests cannot run here, or undefined when they can. */
export function dockerRegistryMissing(): string | undefined {
  return existsSync(DOCKER_REGISTRY_BIN) ? undefined : `${DOCKER_REGISTRY_BIN} is not installed (apt-get install docker-registry)`;
}
