// Pull throughput: a 256 MiB model from a loopback docker-registry into an empty node, beside curl
// fetching the same blob in the same run (to /dev/null, and to a file it hashes and syncs).

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startTestNode } from '../conformance/fixtures/node.js';
import { silentLogger } from '../core/log.js';
import { parseModelName } from '../core/models/name.js';
import { pushModel } from '../core/registry/push.js';
import { dockerRegistryMissing, startDockerRegistry } from '../core/registry/testing/docker-registry.js';
import { seededBytes, writeModel } from '../core/registry/testing/model.js';
import { fsStore } from '../plugins/storage-fs/index.js';
import { BenchmarkUnavailable, formatRow, type BenchmarkRow } from './row.js';

const execFileAsync = promisify(execFile);

export interface RegistryPullBenchOptions {
  sizeMiB?: number;
  /** Each figure is the median of this many rounds; the three transfers take turns in each. */
  rounds?: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

/** Seconds for one pull through a fresh node's /api/pull; the node starts and stops outside the timing. */
async function pullSeconds(model: string): Promise<number> {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  try {
    return await timed(async () => {
      const response = await request(`${node.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model, insecure: true, stream: false }) });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`pull failed: ${response.statusCode} ${text}`);
    });
  } finally {
    await node.stop();
  }
}

export async function run(options: RegistryPullBenchOptions = {}): Promise<BenchmarkRow[]> {
  const missing = dockerRegistryMissing();
  if (missing) throw new BenchmarkUnavailable(missing);
  await execFileAsync('curl', ['--version']).catch(() => {
    throw new BenchmarkUnavailable('curl is not installed (apt-get install curl)');
  });
  const size = (options.sizeMiB ?? 256) * 1024 * 1024;
  const rounds = options.rounds ?? 3;
  const registry = await startDockerRegistry();
  const workDir = await mkdtemp(join(tmpdir(), 'od-bench-pull-'));
  try {
    const source = fsStore({ model_dir: join(workDir, 'source') })({ logger: silentLogger() });
    await source.start();
    const model = `${registry.host}/library/bench:latest`;
    const name = parseModelName(model);
    const written = await writeModel(source, name, seededBytes(size, 42));
    await pushModel({ store: source, name, insecure: true, onProgress: () => {} });
    await source.stop();
    const blobUrl = `${registry.url}/v2/library/bench/blobs/${written.manifest.layers[0]!.digest}`;
    const file = join(workDir, 'curl.blob');
    const curlToNull = async () => {
      const { stdout } = await execFileAsync('curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total}', blobUrl]);
      return Number(stdout);
    };
    const curlHashSync = () =>
      timed(async () => {
        await execFileAsync('curl', ['-sf', '-o', file, blobUrl]);
        await execFileAsync('sha256sum', [file]);
        await execFileAsync('sync', [file]);
        await rm(file);
      });

    await curlToNull();
    const samples = { pull: [] as number[], curl: [] as number[], curlFile: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      samples.curl.push(await curlToNull());
      samples.pull.push(await pullSeconds(model));
      samples.curlFile.push(await curlHashSync());
    }
    const rate = (seconds: number[]) => size / 1e6 / median(seconds);
    const pull = rate(samples.pull);
    const label = `pull ${options.sizeMiB ?? 256} MiB from docker-registry into an empty node`;
    return [
      { name: label, value: pull, unit: 'MB/s', baseline: rate(samples.curl), baselineName: 'curl -o /dev/null', ratio: pull / rate(samples.curl), better: 'higher' },
      {
        name: `${label} (sha256-checked, fsynced)`,
        value: pull,
        unit: 'MB/s',
        baseline: rate(samples.curlFile),
        baselineName: 'curl -o file + sha256sum + sync',
        ratio: pull / rate(samples.curlFile),
        better: 'higher',
      },
    ];
  } finally {
    await registry.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
