// The cluster API's routes and permissions, and that every route the cluster step plans for exists.

import Fastify from 'fastify';
import t from 'tap';
import type { ApiDeps } from '../deps.js';
import { CLUSTER_ROUTES } from '../forward/cluster-plan.js';
import { API_ROUTES } from '../routes.js';
import { clusterRoutes } from './routes.js';

async function registered(modules: typeof API_ROUTES): Promise<Record<string, string | undefined>> {
  // As the API server builds it: HEAD only where a route asks for it.
  const app = Fastify({ exposeHeadRoutes: false });
  const seen: Record<string, string | undefined> = {};
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) seen[`${method} ${route.url}`] = route.config?.permission;
  });
  for (const register of modules) register(app, {} as ApiDeps);
  await app.ready();
  await app.close();
  return seen;
}

t.test('reads need read; model copies need write; drains and removals need admin', async (t) => {
  t.same(await registered([clusterRoutes]), {
    'GET /api/v1/cluster/status': 'read',
    'GET /api/v1/nodes': 'read',
    'GET /api/v1/nodes/:id': 'read',
    'GET /api/v1/queue': 'read',
    'POST /api/v1/nodes/:id/drain': 'admin',
    'POST /api/v1/nodes/:id/undrain': 'admin',
    'DELETE /api/v1/nodes/:id': 'admin',
    'GET /api/v1/transfers': 'read',
    'POST /api/v1/models/copy': 'write',
  });
});

t.test('every route the cluster step plans for is a route the API serves', async (t) => {
  const routes = await registered(API_ROUTES);
  t.same(CLUSTER_ROUTES.filter((route) => !(route in routes)), []);
  t.ok(CLUSTER_ROUTES.length >= 15);
});
