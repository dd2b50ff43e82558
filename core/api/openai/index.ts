// The OpenAI-compatible API Ollama serves under /v1.

import type { RouteModule } from '../server.js';

export const openaiRoutes: RouteModule = () => {};
