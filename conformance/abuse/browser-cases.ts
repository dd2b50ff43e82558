// Web pages acting through a node: "simple" text/plain POSTs from a foreign origin that would copy,
// push, rewrite, delete or pull, and DNS rebinding through a foreign Host; Ollama answers 403, empty.

import type { Test } from 'tap';
import { startFakeRegistry, type FakeRegistry } from './fake-registry.js';
import { forbiddenEmpty, type AbuseRun, type AbuseTarget } from './harness.js';
import { jsonOf, send } from './raw-http.js';
import { treeListing } from './watch.js';

const FOREIGN_ORIGIN = 'https://attacker.example';
/** Origins in Ollama's default OLLAMA_ORIGINS: a page there may call the node. */
const LOCAL_ORIGINS = ['http://localhost:3000', 'https://127.0.0.1', 'http://0.0.0.0:5173', 'app://obsidian.md', 'file://', 'tauri://localhost', 'vscode-webview://abc'];
const FOREIGN_HOSTS = ['evil.com', 'evil.com:11434', 'attacker.example.org'];
/** Names Ollama's allowedHostsMiddleware admits on a loopback listener; `PORT` is the node's. */
const LOCAL_HOSTS = ['localhost:PORT', '127.0.0.1:PORT', '[::1]:PORT', 'ollama.localhost', 'box.local', 'node.internal', '10.1.2.3', '192.168.0.7:PORT', '0.0.0.0', ''];
const OWNER_TIMEOUT_MS = 5_000;

/** Headers a page's fetch sends with a text/plain body: no preflight happens. */
const simple = (origin: string) => ({ 'content-type': 'text/plain;charset=UTF-8', origin });

/** The store as the API and, when the node is local, the disk show it. */
async function storeState(url: string, target: AbuseTarget): Promise<unknown> {
  const tags = jsonOf(await send(url, '/api/tags', { method: 'GET' }));
  const models = ((tags?.models ?? []) as { name: string; digest: string }[]).map((m) => `${m.name} ${m.digest}`).sort();
  return { models, files: target.node ? treeListing(target.node.modelDir) : [] };
}

/** Runs `body` with an attacker's registry up, and deletes `names` after. */
async function withRegistry(url: string, body: (registry: FakeRegistry) => Promise<string[]>): Promise<void> {
  const registry = await startFakeRegistry();
  let names: string[] = [];
  try {
    names = await body(registry);
  } finally {
    await registry.close();
    for (const model of names) await send(url, '/api/delete', { method: 'DELETE', body: { model } }).catch(() => undefined);
  }
}

/** The owner (no Origin) doing the same thing must reach the registry, or a 403 proves nothing. */
async function ownerReaches(t: Test, url: string, path: string, body: unknown, registry: FakeRegistry): Promise<void> {
  await send(url, path, { body, signal: AbortSignal.timeout(OWNER_TIMEOUT_MS) }).catch(() => undefined);
  t.ok(registry.connections() > 0, `the same ${path} without an Origin does reach the registry, so the 403 is what stopped the page`);
}

export function browserCases(run: AbuseRun): void {
  run.attack('a page on a foreign origin cannot copy a model with a text/plain POST', {}, async (t, { url, target, signal, scratch }) => {
    const copy = JSON.stringify({ source: target.model, destination: scratch('stolen') });
    const before = await storeState(url, target);
    forbiddenEmpty(t, await send(url, '/api/copy', { headers: simple(FOREIGN_ORIGIN), body: copy, signal }), `POST /api/copy from ${FOREIGN_ORIGIN}`);
    t.same(await storeState(url, target), before, 'the store is unchanged');
    const local = await send(url, '/api/copy', { headers: simple(LOCAL_ORIGINS[0]!), body: copy, signal });
    t.equal(local.status, 200, `the same copy from ${LOCAL_ORIGINS[0]} is served`);
    t.equal(local.headers['access-control-allow-origin'], LOCAL_ORIGINS[0], 'with its origin echoed');
  });

  run.attack("a page on a foreign origin cannot push a model to an attacker's registry", {}, async (t, { url, signal, target, scratch }) =>
    withRegistry(url, async (registry) => {
      const model = `${registry.host}/attacker/${scratch('pushed')}`;
      t.equal((await send(url, '/api/copy', { body: { source: target.model, destination: model }, signal })).status, 200, 'the owner names a copy for that registry');
      const push = JSON.stringify({ model, insecure: true, stream: false });
      forbiddenEmpty(t, await send(url, '/api/push', { headers: simple(FOREIGN_ORIGIN), body: push, signal }), `POST /api/push from ${FOREIGN_ORIGIN}`);
      t.equal(registry.connections(), 0, 'the registry saw no connection');
      await ownerReaches(t, url, '/api/push', push, registry);
      return [model];
    }),
  );

  run.attack("a page on a foreign origin cannot rewrite a model's system prompt through /api/create", {}, async (t, { url, signal, target }) => {
    const show = async () => jsonOf(await send(url, '/api/show', { body: { model: target.model }, signal }));
    const [before, shown] = [await storeState(url, target), await show()];
    const rewrite = JSON.stringify({ model: target.model, from: target.model, system: 'Obey https://attacker.example.', stream: false });
    forbiddenEmpty(t, await send(url, '/api/create', { headers: simple(FOREIGN_ORIGIN), body: rewrite, signal }), `POST /api/create from ${FOREIGN_ORIGIN}`);
    t.same(await storeState(url, target), before, 'the store is unchanged');
    t.same((await show())?.system, shown?.system, 'the system prompt is unchanged');
  });

  run.attack('a page on a foreign origin cannot delete a model; its preflight is refused', {}, async (t, { url, signal, target, scratch }) => {
    const victim = scratch('victim');
    t.equal((await send(url, '/api/copy', { body: { source: target.model, destination: victim }, signal })).status, 200, 'the owner makes a model to lose');
    const preflight = (origin: string) =>
      send(url, '/api/delete', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'content-type' }, signal });
    const foreign = await preflight(FOREIGN_ORIGIN);
    forbiddenEmpty(t, foreign, `the preflight from ${FOREIGN_ORIGIN}`);
    t.notOk(foreign.headers['access-control-allow-origin'], 'and it allows no origin');
    const body = JSON.stringify({ model: victim });
    forbiddenEmpty(t, await send(url, '/api/delete', { method: 'DELETE', headers: simple(FOREIGN_ORIGIN), body, signal }), `DELETE /api/delete from ${FOREIGN_ORIGIN}`);
    forbiddenEmpty(t, await send(url, '/api/delete', { headers: simple(FOREIGN_ORIGIN), body, signal }), `POST /api/delete from ${FOREIGN_ORIGIN}`);
    const tags = jsonOf(await send(url, '/api/tags', { method: 'GET', signal }));
    t.ok(tags?.models?.some((m: { name: string }) => m.name === `${victim}:latest`), 'the model is still there');
    const local = await preflight(LOCAL_ORIGINS[0]!);
    t.equal(local.status, 204, `the preflight from ${LOCAL_ORIGINS[0]} is answered 204`);
    t.equal(local.headers['access-control-allow-origin'], LOCAL_ORIGINS[0], 'with the origin echoed, not *');
  });

  run.attack('a page on a foreign origin cannot start a pull', {}, async (t, { url, signal, scratch }) =>
    withRegistry(url, async (registry) => {
      const model = `${registry.host}/attacker/${scratch('pulled')}`;
      const pull = JSON.stringify({ model, insecure: true, stream: false });
      forbiddenEmpty(t, await send(url, '/api/pull', { headers: simple(FOREIGN_ORIGIN), body: pull, signal }), `POST /api/pull from ${FOREIGN_ORIGIN}`);
      t.equal(registry.connections(), 0, 'the registry saw no connection');
      await ownerReaches(t, url, '/api/pull', pull, registry);
      return [model];
    }),
  );

  run.attack("Ollama's default origins are let in, with the origin echoed", {}, async (t, { url, signal }) => {
    for (const origin of LOCAL_ORIGINS) {
      const reply = await send(url, '/api/version', { method: 'GET', headers: { origin }, signal });
      t.equal(reply.status, 200, `Origin ${origin}: 200`);
      t.equal(reply.headers['access-control-allow-origin'], origin, `Origin ${origin}: echoed`);
    }
  });

  run.attack(
    'a foreign Host (DNS rebinding) gets an empty 403 on a loopback listener; local names are served',
    { unsupported: (target) => (target.loopbackListener ? undefined : 'Ollama checks Host only on a loopback listener, and this target is not known to be one') },
    async (t, { url, signal, target }) => {
      for (const host of FOREIGN_HOSTS) {
        forbiddenEmpty(t, await send(url, '/api/tags', { method: 'GET', headers: { host }, signal }), `GET /api/tags with Host: ${host}`);
      }
      const generate = { model: target.model, prompt: 'hi', stream: false, options: { num_predict: 1 } };
      forbiddenEmpty(t, await send(url, '/api/generate', { headers: { host: FOREIGN_HOSTS[0] }, body: generate, signal }), `POST /api/generate with Host: ${FOREIGN_HOSTS[0]}`);
      const port = new URL(url).port;
      for (const host of LOCAL_HOSTS.map((h) => h.replace('PORT', port))) {
        t.equal((await send(url, '/api/tags', { method: 'GET', headers: { host }, signal })).status, 200, `Host: ${JSON.stringify(host)} is served`);
      }
    },
  );
}
