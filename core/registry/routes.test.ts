// /api/pull and /api/push on real nodes against docker-registry: Ollama's NDJSON progress, error
// statuses, and a client that disconnects mid-pull leaving a partial the next pull resumes.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { startTestNode, type TestNode } from '../../conformance/fixtures/node.js';
import { silentLogger } from '../log.js';
import { parseModelName } from '../models/name.js';
import { fsStore } from '../../plugins/storage-fs/index.js';
import { startCountingProxy } from './testing/counting-proxy.js';
import { dockerRegistryMissing, startDockerRegistry } from './testing/docker-registry.js';
import { seededBytes, writeModel } from './testing/model.js';

const MiB = 1024 * 1024;
const missing = dockerRegistryMissing();
if (missing && process.env.CI === 'true') t.fail(`registry tests cannot run under CI: ${missing}`);

/** The node's own store, opened beside it to arrange and inspect models. */
function storeOf(node: TestNode) {
  return fsStore({ model_dir: join(node.dataDir, 'models') })({ logger: silentLogger() });
}

async function post(node: TestNode, path: string, body: unknown) {
  const response = await request(`${node.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await response.body.text();
  return { status: response.statusCode, type: String(response.headers['content-type']), text };
}

const lines = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

t.test('pull and push routes', { skip: missing }, async (t) => {
  const registry = await startDockerRegistry();
  t.teardown(() => registry.stop());
  const source = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  t.teardown(() => source.stop());
  const target = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  t.teardown(() => target.stop());
  const model = `${registry.host}/library/routes:latest`;
  const written = await writeModel(storeOf(source), parseModelName(model), seededBytes(3 * MiB, 11));

  t.test('push with stream false answers one success object', async (t) => {
    const pushed = await post(source, '/api/push', { model, insecure: true, stream: false });
    t.equal(pushed.status, 200);
    t.same(JSON.parse(pushed.text), { status: 'success' });
  });

  t.test('pull streams Ollama progress lines', async (t) => {
    const pulled = await post(target, '/api/pull', { model, insecure: true });
    t.equal(pulled.status, 200);
    t.match(pulled.type, 'application/x-ndjson');
    const events = lines(pulled.text);
    t.same(events[0], { status: 'pulling manifest' });
    t.same(events.slice(-3), [{ status: 'verifying sha256 digest' }, { status: 'writing manifest' }, { status: 'success' }]);
    for (const layer of [...written.manifest.layers, written.manifest.config]) {
      const own = events.filter((e) => e.digest === layer.digest);
      t.ok(own.length > 0, `progress for ${layer.digest}`);
      t.same(own.at(-1), { status: `pulling ${layer.digest.slice(7, 19)}`, digest: layer.digest, total: layer.size, completed: layer.size });
    }
    t.same((await storeOf(target).getModel(parseModelName(model)))?.manifest, written.manifest);
  });

  t.test('a missing model is a 404, or a last error line when streaming', async (t) => {
    const absent = `${registry.host}/library/absent:latest`;
    const message = `pull model manifest: file does not exist: registry ${registry.host} has no ${absent}`;
    const plain = await post(target, '/api/pull', { model: absent, insecure: true, stream: false });
    t.equal(plain.status, 404);
    t.same(JSON.parse(plain.text), { error: message });
    const streamed = await post(target, '/api/pull', { model: absent, insecure: true });
    t.equal(streamed.status, 200);
    t.same(lines(streamed.text), [{ status: 'pulling manifest' }, { error: message }]);
  });

  t.test('bad requests', async (t) => {
    t.same(await post(target, '/api/pull', {}), { status: 400, type: 'application/json; charset=utf-8', text: '{"error":"model is required"}' });
    t.equal((await post(target, '/api/push', { model: 'bad name!' })).status, 400);
    const absent = await post(source, '/api/push', { model: `${registry.host}/library/nothere`, insecure: true, stream: false });
    t.equal(absent.status, 404);
  });

  t.test('a client that disconnects mid-pull leaves a partial the next pull resumes', async (t) => {
    const size = 16 * MiB;
    const slowModel = `${registry.host}/library/slow:latest`;
    const slow = await writeModel(storeOf(source), parseModelName(slowModel), seededBytes(size, 12));
    t.equal((await post(source, '/api/push', { model: slowModel, insecure: true, stream: false })).status, 200);
    const proxy = await startCountingProxy(Number(registry.host.split(':')[1]), { rateBytesPerSecond: 16 * MiB });
    t.teardown(() => proxy.close());
    const viaProxy = `${proxy.host}/library/slow:latest`;
    const digest = slow.manifest.layers[0]!.digest;

    const controller = new AbortController();
    const response = await request(`${target.url}/api/pull`, {
      method: 'POST',
      body: JSON.stringify({ model: viaProxy, insecure: true }),
      signal: controller.signal,
    });
    let buffered = '';
    try {
      for await (const chunk of response.body) {
        buffered += (chunk as Buffer).toString();
        const progressed = buffered
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { digest?: string; completed?: number })
          .some((e) => e.digest === digest && (e.completed ?? 0) >= size / 4);
        if (progressed) controller.abort();
      }
    } catch (error) {
      t.equal((error as Error).name, 'AbortError');
    }
    const store = storeOf(target);
    const partial = join(store.root, 'blobs', `sha256-${digest.slice(7)}-partial`);
    let kept = 0;
    for (let i = 0; i < 100 && kept === 0; i++) {
      await sleep(20);
      kept = (await stat(partial).catch(() => undefined))?.size ?? 0;
    }
    // The cancelled pull's writer settles shortly after the disconnect; the file stops growing then.
    for (let previous = -1; previous !== kept; ) {
      previous = kept;
      await sleep(100);
      kept = (await stat(partial).catch(() => undefined))?.size ?? 0;
    }
    t.ok(kept > 0 && kept < size, `the partial holds ${kept} of ${size} bytes`);
    t.equal(await store.getModel(parseModelName(viaProxy)), undefined, 'no manifest after the disconnect');
    const firstServed = proxy.served;

    const again = await post(target, '/api/pull', { model: viaProxy, insecure: true, stream: false });
    t.equal(again.status, 200);
    const secondServed = proxy.served - firstServed;
    t.ok(secondServed < size - kept + 64 * 1024, `the resumed pull fetched ${secondServed} bytes; ${kept} were kept`);
    t.ok(await store.hasBlob(digest));
  });
});
