// The plugins that ship with the product, by kind and configured name. Modules load lazily so a
// node pays only for the plugins its config selects.

import type { PluginKind } from '../contracts/plugin.js';

/** Loads the module; the resolver checks its shape like any other plugin's. */
type Loader = () => Promise<unknown>;

export const BUILTIN_PLUGINS: Record<PluginKind, Record<string, Loader>> = {
  transport: {
    libp2p: () => import('../../plugins/transport-libp2p/index.js'),
  },
  consensus: {
    raft: () => import('../../plugins/consensus-raft/index.js'),
    etcd: () => import('../../plugins/consensus-etcd/index.js'),
  },
  balancer: {
    round_robin: () => import('../../plugins/balancer-round-robin/index.js'),
    least_connections: () => import('../../plugins/balancer-least-connections/index.js'),
    random: () => import('../../plugins/balancer-random/index.js'),
    adaptive: () => import('../../plugins/balancer-adaptive/index.js'),
    affinity: () => import('../../plugins/balancer-affinity/index.js'),
  },
  auth: {
    none: () => import('../../plugins/auth-none/index.js'),
    jwt: () => import('../../plugins/auth-jwt/index.js'),
  },
  storage: {
    fs: () => import('../../plugins/storage-fs/index.js'),
  },
  engine: {
    'llama-cpp': () => import('../../plugins/engine-llama-cpp/index.js'),
    ollama: () => import('../../plugins/engine-ollama/index.js'),
    sim: () => import('../../plugins/engine-sim/index.js'),
  },
};
