// The route modules every node serves besides the system routes.

import { anthropicRoutes } from './anthropic/index.js';
import { clusterRoutes } from './cluster/routes.js';
import { replicaRoutes } from './cluster/replicas.js';
import { ollamaRoutes } from './ollama/index.js';
import { openaiRoutes } from './openai/index.js';
import { registryRoutes } from './registry-routes.js';
import type { RouteModule } from './server.js';

export const API_ROUTES: readonly RouteModule[] = [ollamaRoutes, openaiRoutes, anthropicRoutes, registryRoutes, clusterRoutes, replicaRoutes];
