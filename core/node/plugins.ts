// Which plugin each kind uses, as the config says, and the options each receives. Resolution
// happens before the node touches its data dir, so a bad name never leaves anything behind.

import { dirname } from 'node:path';
import type { PluginKind } from '../contracts/plugin.js';
import type { LoadedConfig } from '../config/load.js';
import type { NodeConfig } from '../config/schema.js';
import { resolvePlugin, type ResolvedPlugin } from '../kernel/resolve.js';

interface KindChoice {
  key: string;
  /** Set when the kind's plugin does not come from the key's value. */
  fixed?: string;
  init: (config: NodeConfig) => unknown;
}

/** The kinds a node runs today, in the order their keys are reported. */
export const NODE_PLUGIN_KINDS: Partial<Record<PluginKind, (config: NodeConfig) => KindChoice>> = {
  storage: () => ({ key: 'storage.backend', init: (c) => c.storage }),
  transport: () => ({ key: 'p2p.transport', init: (c) => c.p2p }),
  consensus: () => ({ key: 'consensus.backend', init: (c) => c.consensus }),
  engine: () => ({ key: 'engine.name', init: (c) => c.engine }),
  balancer: () => ({ key: 'scheduler.algorithm', init: (c) => c.scheduler }),
  auth: (config) =>
    config.security.auth.enabled
      ? { key: 'security.auth.method', init: (c) => c.security.auth }
      : { key: 'security.auth.enabled', fixed: 'none', init: (c) => c.security.auth },
};

export interface ConfiguredPlugin extends ResolvedPlugin {
  init: unknown;
}

export async function resolveNodePlugins(loaded: LoadedConfig, cwd = process.cwd()): Promise<ConfiguredPlugin[]> {
  const resolved: ConfiguredPlugin[] = [];
  for (const [kind, choose] of Object.entries(NODE_PLUGIN_KINDS) as [PluginKind, (c: NodeConfig) => KindChoice][]) {
    const choice = choose(loaded.config);
    const source = loaded.sources.get(choice.key);
    const specifier = choice.fixed ?? (choice.key.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], loaded.config) as string);
    const baseDir = source?.source === 'file' && source.origin ? dirname(source.origin) : cwd;
    const plugin = await resolvePlugin({ kind, key: choice.key, specifier, baseDir });
    resolved.push({ ...plugin, init: choice.init(loaded.config) });
  }
  return resolved;
}
