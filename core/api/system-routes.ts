// Routes that say the node is alive: Ollama's root and version (the Ollama API the node
// implements), and the cluster health check with the product's own version.

import type { FastifyInstance } from 'fastify';
import { OLLAMA_API_VERSION, PRODUCT_VERSION } from '../version.js';
import type { ApiDeps } from './deps.js';

export function systemRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/', { config: { permission: 'public' }, exposeHeadRoute: true }, async (_request, reply) =>
    reply.type('text/plain; charset=utf-8').send('Ollama is running'),
  );
  app.get('/api/version', { config: { permission: 'public' }, exposeHeadRoute: true }, async () => ({ version: OLLAMA_API_VERSION }));
  app.get('/api/v1/health', { config: { permission: 'public' } }, async () => {
    const plugins = deps.units();
    const healthy = plugins.every((p) => p.state === 'running');
    return {
      status: healthy ? 'healthy' : 'degraded',
      node_id: deps.nodeId,
      node_name: deps.config.node.name,
      version: PRODUCT_VERSION,
      uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
      plugins,
    };
  });
}
