// Turns a configured plugin reference into a checked plugin module: a built-in name, a file path
// (relative to the config file that named it, else the working directory) or an npm package name.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PLUGIN_KINDS, type PluginKind, type PluginModule } from '../contracts/plugin.js';
import { ProductError } from '../errors.js';
import { BUILTIN_PLUGINS } from './builtins.js';

export interface PluginRef {
  kind: PluginKind;
  /** The config key that chose it, for error messages. */
  key: string;
  specifier: string;
  /** Directory relative paths are resolved against. */
  baseDir: string;
}

export interface ResolvedPlugin {
  ref: PluginRef;
  module: PluginModule;
  builtin: boolean;
}

function isPathLike(specifier: string): boolean {
  return specifier.startsWith('./') || specifier.startsWith('../') || isAbsolute(specifier) || specifier.startsWith('file:');
}

function notFound(ref: PluginRef, detail: string): ProductError {
  const builtins = Object.keys(BUILTIN_PLUGINS[ref.kind]);
  const allowed = builtins.length > 0 ? `one of ${builtins.join(', ')}, ` : '';
  return new ProductError(
    'OD_ERR_PLUGIN_NOT_FOUND',
    `config ${ref.key} = ${JSON.stringify(ref.specifier)}: ${detail}; must be ${allowed}a file path (./my-plugin.js) or an installed npm package`,
  );
}

/** Finds an installed package's ESM entry from the working directory, the way `import` would. */
function resolvePackage(specifier: string, baseDir: string): string | undefined {
  try {
    return createRequire(join(baseDir, 'noop.js')).resolve(specifier);
  } catch {
    // ESM-only packages have no "require" export: read the package's own entry point.
  }
  for (let dir = baseDir; ; dir = dirname(dir)) {
    const manifest = join(dir, 'node_modules', specifier, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown; module?: string; main?: string };
      const root = (typeof pkg.exports === 'object' && pkg.exports !== null ? (pkg.exports as Record<string, unknown>)['.'] : pkg.exports) ?? pkg.module ?? pkg.main ?? 'index.js';
      const entry = typeof root === 'string' ? root : ((root as Record<string, string>).import ?? (root as Record<string, string>).default);
      return entry ? join(dirname(manifest), entry) : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export function checkPluginModule(value: unknown, ref: PluginRef): PluginModule {
  const mod = value as Partial<PluginModule> | null;
  const meta = mod?.meta;
  const problem =
    typeof mod?.default !== 'function'
      ? 'its default export is not a factory function'
      : !meta || typeof meta.name !== 'string' || meta.name === ''
        ? 'it exports no meta with a name'
        : !PLUGIN_KINDS.includes(meta.kind)
          ? `its meta.kind ${JSON.stringify(meta.kind)} is not one of ${PLUGIN_KINDS.join(', ')}`
          : meta.kind !== ref.kind
            ? `its meta.kind is '${meta.kind}', expected '${ref.kind}'`
            : ![meta.provides, meta.requires].every((list) => Array.isArray(list) && list.every((s) => typeof s === 'string'))
              ? 'its meta.provides and meta.requires must be lists of component names'
              : undefined;
  if (problem) {
    throw new ProductError('OD_ERR_PLUGIN_INVALID', `config ${ref.key} = ${JSON.stringify(ref.specifier)}: ${problem}`);
  }
  return mod as PluginModule;
}

export async function resolvePlugin(ref: PluginRef): Promise<ResolvedPlugin> {
  const builtin = BUILTIN_PLUGINS[ref.kind][ref.specifier];
  if (builtin) return { ref, module: checkPluginModule(await builtin(), ref), builtin: true };

  let url: string | undefined;
  if (isPathLike(ref.specifier)) {
    const file = ref.specifier.startsWith('file:') ? new URL(ref.specifier).pathname : resolvePath(ref.baseDir, ref.specifier);
    if (!existsSync(file)) throw notFound(ref, `no file at ${file}`);
    url = pathToFileURL(file).href;
  } else if (/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(ref.specifier)) {
    const entry = resolvePackage(ref.specifier, ref.baseDir);
    if (!entry) throw notFound(ref, `unknown ${ref.kind} plugin`);
    url = pathToFileURL(entry).href;
  } else {
    throw notFound(ref, `unknown ${ref.kind} plugin`);
  }
  let loaded: unknown;
  try {
    loaded = await import(url);
  } catch (error) {
    throw new ProductError('OD_ERR_PLUGIN_INVALID', `config ${ref.key} = ${JSON.stringify(ref.specifier)}: failed to load: ${(error as Error).message}`, { cause: error });
  }
  return { ref, module: checkPluginModule(loaded, ref), builtin: false };
}
