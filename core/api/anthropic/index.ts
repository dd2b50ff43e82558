// The Anthropic-compatible Messages API Ollama serves at /v1/messages, in its own Fastify context
// so that every error there, auth refusals included, takes Anthropic's shape.

import type { RouteModule } from '../server.js';
import { handleAnthropicError } from './errors.js';
import { messagesRoute } from './messages.js';

export const anthropicRoutes: RouteModule = (app, deps) => {
  void app.register(
    async (v1) => {
      v1.setErrorHandler(handleAnthropicError(deps.logger));
      messagesRoute(v1, deps);
    },
    { prefix: '/v1' },
  );
};
