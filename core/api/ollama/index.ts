// Ollama's native API: /api/generate, /api/chat, /api/embed, models and blobs.

import type { RouteModule } from '../server.js';

export const ollamaRoutes: RouteModule = () => {};
