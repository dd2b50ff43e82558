// The OpenAI-compatible API Ollama serves under /v1, the Responses API included, in its own Fastify
// context so that every error there, auth refusals included, takes OpenAI's shape instead of Ollama's.

import type { RouteModule } from '../server.js';
import { chatRoute } from './chat.js';
import { completionsRoute } from './completions.js';
import { embeddingsRoute } from './embeddings.js';
import { handleOpenAIError } from './errors.js';
import { modelsRoutes } from './models.js';
import { responsesRoute } from './responses.js';

export const openaiRoutes: RouteModule = (app, deps) => {
  void app.register(
    async (v1) => {
      v1.setErrorHandler(handleOpenAIError(deps.logger));
      chatRoute(v1, deps);
      completionsRoute(v1, deps);
      embeddingsRoute(v1, deps);
      modelsRoutes(v1, deps);
      responsesRoute(v1, deps);
    },
    { prefix: '/v1' },
  );
};
