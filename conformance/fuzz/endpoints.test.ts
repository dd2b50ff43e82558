// Every route that takes a JSON body is in the abuse suite's body fuzzer, or named here with the
// reason it is not, so a new endpoint cannot slip past the fuzzing unseen.

import Fastify from 'fastify';
import t from 'tap';
import type { ApiDeps } from '../../core/api/deps.js';
import { API_ROUTES } from '../../core/api/routes.js';
import { endpoints } from '../abuse/fuzz-bodies.js';

/** Routes with a body the body fuzzer does not send, and why. */
const NOT_BODY_FUZZED: Record<string, string> = {
  'POST /api/blobs/:digest': 'takes raw bytes, not JSON: the GGUF fuzzer uploads mutated files to it',
  'POST /api/v1/nodes/:id/drain': 'no body; the id is a path part',
  'POST /api/v1/nodes/:id/undrain': 'no body; the id is a path part',
  'DELETE /api/v1/nodes/:id': 'no body; the id is a path part',
  'DELETE /api/v1/keys/:id': 'no body; the id is a path part',
};

t.test('every POST and DELETE route is body-fuzzed or excused', async (t) => {
  const app = Fastify({ exposeHeadRoutes: false });
  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method === 'POST' || method === 'DELETE') routes.push(`${method} ${route.url}`);
  });
  for (const register of API_ROUTES) register(app, {} as ApiDeps);
  await app.ready();
  await app.close();
  const fuzzed = new Set(endpoints({ model: 'm', scratch: 's', deadRegistry: '127.0.0.1:1' }).map((e) => `${e.method} ${e.path}`));
  t.strictSame(routes.filter((route) => !fuzzed.has(route) && !(route in NOT_BODY_FUZZED)), [], 'no route left out');
  t.strictSame([...fuzzed].filter((route) => !routes.includes(route)), [], 'no fuzzed path that is not a route');
  t.ok(routes.length > 20);
});
