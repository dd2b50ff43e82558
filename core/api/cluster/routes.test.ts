// Every route the cluster step plans for exists (core/api/auth.test.ts checks each route's permission).

import Fastify from 'fastify';
import t from 'tap';
import type { ApiDeps } from '../deps.js';
import { CLUSTER_ROUTES } from '../forward/cluster-plan.js';
import { API_ROUTES } from '../routes.js';

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

t.test('every route the cluster step plans for is a route the API serves', async (t) => {
  const routes = await registered(API_ROUTES);
  t.same(CLUSTER_ROUTES.filter((route) => !(route in routes)), []);
  t.ok(CLUSTER_ROUTES.length >= 15);
});
