// Pull once, copy peer to peer: a model pulled from a loopback docker-registry on one node of three,
// with distribution.default_replicas 3, reaches the other two by chunk copies from that node, with
// the registry stopped once the pull is done, so no second registry pull can have brought it.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { TransferEntry } from '../../core/distribution/transfers.js';
import { dockerRegistryMissing, startDockerRegistry } from '../../core/registry/testing/docker-registry.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';
import { startTestNode } from '../fixtures/node.js';
import { tinyGgufBytes } from '../fixtures/tiny-gguf.js';

const missing = dockerRegistryMissing();
if (missing && process.env.CI === 'true') t.fail(`the pull-once cluster test cannot run under CI: ${missing}`);

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', body: Buffer.isBuffer(body) ? body : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
}

/** The weights' sha256 as read from the node's own blob store; undefined while it lacks them. */
async function weightsOn(cluster: Cluster, index: number, blob: string): Promise<string | undefined> {
  const path = join(cluster.nodes[index].dataDir, 'models', 'blobs', blob.replace(':', '-'));
  if (!existsSync(path)) return undefined;
  return `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;
}

t.test('a model pulled on one node reaches the others peer to peer', { skip: missing }, async (t) => {
  const registry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const model = `${registry.host}/library/tiny:latest`;

  const publisher = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  t.teardown(() => publisher.stop());
  const gguf = Buffer.concat([tinyGgufBytes(), randomBytes(4 * 1024 * 1024)]);
  const blob = `sha256:${createHash('sha256').update(gguf).digest('hex')}`;
  t.equal((await post(`${publisher.url}/api/blobs/${blob}`, gguf)).status, 201, 'the weights are uploaded to the publishing node');
  t.equal((await post(`${publisher.url}/api/create`, { model, files: { 'tiny.gguf': blob }, stream: false })).status, 200, 'the model is created');
  t.equal((await post(`${publisher.url}/api/push`, { model, insecure: true, stream: false })).status, 200, 'and pushed to the registry');

  const cluster = await startCluster({ size: 3, engine: 'sim', clusterKey: randomBytes(32).toString('base64url'), t, config: () => ({ distribution: { default_replicas: 3 } }) });
  await cluster.waitForMembers(3);
  const pulled = await post(`${cluster.nodes[1].apiUrl}/api/pull`, { model, insecure: true, stream: false });
  t.equal(pulled.status, 200, `node-2 pulls the model from the registry: ${await pulled.text()}`);
  await registry.stop();
  t.equal(await weightsOn(cluster, 1, blob), blob, 'node-2 holds the weights');

  for (const index of [0, 2]) {
    const name = cluster.nodes[index].name;
    const copy = await waitUntil(
      async () => {
        const response = await fetch(`${cluster.nodes[index].apiUrl}/api/v1/transfers`, { signal: AbortSignal.timeout(5000) });
        const { transfers } = (await response.json()) as { transfers: TransferEntry[] };
        return transfers.find((entry) => entry.model === model && entry.state === 'done');
      },
      { timeoutMs: 60_000, what: `${name} copying ${model}` },
    );
    t.ok(copy.fetched > 0 && copy.holders.length > 0 && !copy.holders.includes(name), `${name} copied it from its peers (${copy.holders.join(', ')}, ${copy.fetched} bytes)`);
    t.equal(await weightsOn(cluster, index, blob), blob, `${name} holds the weights, their sha256 verified, with the registry gone`);
  }
});
