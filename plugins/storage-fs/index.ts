// The fs storage plugin: the model store as plain files in Ollama's layout under
// storage.model_dir. The kernel builds it with `fsStore(config.storage)({ logger })`.

import type { PluginMeta, Startable } from '../../core/contracts/plugin.js';
import type { ModelStore } from '../../core/contracts/storage.js';
import type { NodeConfig } from '../../core/config/schema.js';
import type { Logger } from '../../core/log.js';
import { FsModelStore } from './store.js';

export const meta = { name: 'fs', kind: 'storage', provides: ['storage'], requires: ['logger'] } satisfies PluginMeta;

export interface FsStoreComponents {
  logger: Logger;
}

/** Partial files live beside the blobs (sha256-<hex>-partial), so `cache_dir` is not used. */
export function fsStore(init: Pick<NodeConfig['storage'], 'model_dir'> & Partial<Pick<NodeConfig['storage'], 'noprune'>>) {
  return (components: FsStoreComponents): ModelStore & Startable =>
    new FsModelStore(init.model_dir, components.logger.child({ plugin: meta.name }), { noprune: init.noprune ?? false });
}

export default fsStore;
