// The product's version, read once from package.json.

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
