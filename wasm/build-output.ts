// Finds what `npm run build` writes (the .wasm binary, the compiled worker) from a module that may
// run as TypeScript source under tap (wasm/*.ts) or compiled (dist/wasm/*.js).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProductError } from '../core/errors.js';

/** The first of `candidates` that exists, as a file path; a clear error naming the fix when none does. */
export function buildOutput(what: string, candidates: readonly URL[]): string {
  const paths = candidates.map((url) => fileURLToPath(url));
  const found = paths.find((path) => existsSync(path));
  if (found === undefined) {
    throw new ProductError(
      'OD_ERR_INTERNAL',
      `${what} is missing (looked for ${paths.join(', ')}): run "npm run build" first`,
    );
  }
  return found;
}
