// The libp2p transport plugin: peers, streams, gossip and content routing between nodes over
// TCP + Noise + Yamux. The kernel builds it with `libp2pTransport(config.p2p)(components)`.

import './promise-polyfill.js';
import type { NodeConfig } from '../../core/config/schema.js';
import type { PluginMeta, Startable } from '../../core/contracts/plugin.js';
import type { Transport } from '../../core/contracts/transport.js';
import type { Logger } from '../../core/log.js';
import { Libp2pTransport } from './transport.js';
import type { P2pConfig } from './libp2p-options.js';

export const meta = { name: 'libp2p', kind: 'transport', provides: ['transport'], requires: ['logger', 'config', 'dataDir'] } satisfies PluginMeta;

export interface Libp2pTransportComponents {
  logger: Logger;
  config: NodeConfig;
  dataDir: string;
}

export function libp2pTransport(init: P2pConfig) {
  return (components: Libp2pTransportComponents): Transport & Startable =>
    new Libp2pTransport({ p2p: init, dataDir: components.dataDir, logger: components.logger.child({ plugin: meta.name }), apiListen: components.config.api.listen });
}

export default libp2pTransport;
