// Every Ollama route and the permission it asks the auth plugin for: inference for runs, read for
// listing and showing, write for anything that changes the store.

import Fastify from 'fastify';
import t from 'tap';
import type { ApiDeps } from '../deps.js';
import { ollamaRoutes } from './index.js';

t.test('each route names its permission', async (t) => {
  const app = Fastify();
  const seen: Record<string, string | undefined> = {};
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) seen[`${method} ${route.url}`] = route.config?.permission;
  });
  ollamaRoutes(app, {} as ApiDeps);
  await app.ready();
  t.teardown(() => app.close());
  t.same(seen, {
    'POST /api/generate': 'inference',
    'POST /api/chat': 'inference',
    'POST /api/embed': 'inference',
    'POST /api/embeddings': 'inference',
    'GET /api/tags': 'read',
    'HEAD /api/tags': 'read',
    'GET /api/ps': 'read',
    'POST /api/show': 'read',
    'POST /api/copy': 'write',
    'DELETE /api/delete': 'write',
    'POST /api/create': 'write',
    'HEAD /api/blobs/:digest': 'write',
    'POST /api/blobs/:digest': 'write',
  });
});
