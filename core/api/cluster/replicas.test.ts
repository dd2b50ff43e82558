// Desired replicas through the API of two real nodes in this process: set through consensus on
// either node, names normalised as the rest of the API does, and bad requests refused.

import Fastify from 'fastify';
import t from 'tap';
import type { TestNode } from '../../../conformance/fixtures/node.js';
import type { ApiDeps } from '../deps.js';
import { startCluster, until } from '../forward/test-cluster.js';
import { createTiny, getJson, postJson } from '../ollama/test-support.js';
import { replicaRoutes } from './replicas.js';

t.test('setting replicas needs admin; reading them needs read', async (t) => {
  const app = Fastify({ exposeHeadRoutes: false });
  const seen: Record<string, unknown> = {};
  app.addHook('onRoute', (route) => {
    seen[`${route.method} ${route.url}`] = route.config?.permission;
  });
  replicaRoutes(app, {} as ApiDeps);
  await app.ready();
  await app.close();
  t.same(seen, { 'GET /api/v1/models/replicas': 'read', 'POST /api/v1/models/replicas': 'admin' });
});

t.test('replicas through consensus', async (t) => {
  const nodes = await startCluster(t, ['a', 'b']);
  const [a, b] = nodes as [TestNode, TestNode];
  await createTiny(a.url, 'me/tiny');
  const held = await getJson(a.url, '/api/tags');
  const digest = held.models.find((m: { name: string }) => m.name === 'me/tiny:latest').digest;
  const agreed = async (node: TestNode) => (await getJson(node.url, '/api/v1/models/replicas')).models;

  t.test('a model one node holds gets its desired replicas on every node, by its full name', async (t) => {
    t.same(await postJson(b.url, '/api/v1/models/replicas', { model: 'registry.ollama.ai/me/tiny', replicas: 2 }), { status: 200, body: { model: 'me/tiny:latest', replicas: 2 } });
    for (const node of nodes) {
      await until(async () => (await agreed(node)).length === 1, 5000, 'the model agreed');
      const [entry] = await agreed(node);
      t.match(entry, { model: 'me/tiny:latest', digest, replicas: 2 });
    }
    t.equal((await postJson(a.url, '/api/v1/models/replicas', { model: 'me/tiny:latest', replicas: 1 })).status, 200);
    await until(async () => (await agreed(b))[0].replicas === 1, 5000, 'the new count agreed');
  });

  t.test('a model no node holds is 404', async (t) => {
    t.same(await postJson(a.url, '/api/v1/models/replicas', { model: 'nowhere', replicas: 2 }), { status: 404, body: { error: "model 'nowhere' not found" } });
  });

  t.test('bad requests are 400 in Ollama\'s shape', async (t) => {
    for (const replicas of [0, -1, 1.5, '2', 1001, null, undefined]) {
      const answer = await postJson(a.url, '/api/v1/models/replicas', { model: 'me/tiny', replicas });
      t.same(answer, { status: 400, body: { error: 'replicas must be an integer from 1 to 1000' } }, `replicas ${JSON.stringify(replicas)}`);
    }
    t.same(await postJson(a.url, '/api/v1/models/replicas', { replicas: 2 }), { status: 400, body: { error: 'model is required' } });
    t.same(await postJson(a.url, '/api/v1/models/replicas', { model: 'bad name!', replicas: 2 }), { status: 400, body: { error: 'invalid model name' } });
    t.equal((await postJson(a.url, '/api/v1/models/replicas', [1])).status, 400);
    t.equal((await agreed(a))[0].replicas, 1, 'nothing refused changed the count');
  });
});
