// Runs the transport conformance suite against the libp2p transport on 127.0.0.1.

import t from 'tap';
import { transportConformance } from '../../conformance/transport/index.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { libp2pTransport } from './index.js';

const config = loadConfig({ env: { OLLAMA_P2P_LISTEN: '/ip4/127.0.0.1/tcp/0', OLLAMA_API_LISTEN: '127.0.0.1:0' } }).config;

transportConformance(t, {
  setup: async ({ dataDir }) => libp2pTransport(config.p2p)({ logger: silentLogger(), config, dataDir }),
});
