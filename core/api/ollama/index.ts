// Ollama's native API: /api/generate, /api/chat, /api/embed, models and blobs.
// Each endpoint lives in its own module; this one only registers them on the API server.

import type { RouteModule } from '../server.js';
import { blobRoutes } from './blobs.js';
import { chatRoutes } from './chat.js';
import { createRoutes } from './create.js';
import { embedRoutes } from './embed.js';
import { generateRoutes } from './generate.js';
import { modelRoutes } from './models.js';
import { showRoutes } from './show.js';

export const ollamaRoutes: RouteModule = (app, deps) => {
  generateRoutes(app, deps);
  chatRoutes(app, deps);
  embedRoutes(app, deps);
  modelRoutes(app, deps);
  showRoutes(app, deps);
  createRoutes(app, deps);
  blobRoutes(app, deps);
};
