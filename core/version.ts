// The product's version, read once from package.json, and the version of Ollama whose API the
// node implements, which /api/version reports because Ollama clients gate features on it.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

function packageRoot(): string {
  // Runs from core/ (sources under tap) and from dist/core/ (the build).
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/') ? join(here, '..', '..') : join(here, '..');
}

export const PACKAGE_ROOT = packageRoot();
export const PRODUCT_VERSION: string = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;

/**
 * Ollama v0.32.15, whose source the API follows: server/routes.go (routes, handler errors, Gin's
 * 404 and 405), api/types.go (fields and their omitempty), middleware/openai.go with openai/ and
 * openai/responses.go (/v1, /v1/responses), middleware/anthropic.go with anthropic/ (/v1/messages).
 */
export const OLLAMA_API_VERSION = '0.32.15';
