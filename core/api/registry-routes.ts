// /api/pull and /api/push: models in and out of OCI registries.

import type { RouteModule } from './server.js';

export const registryRoutes: RouteModule = () => {};
