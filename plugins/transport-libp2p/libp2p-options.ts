// The libp2p node a transport runs, from the p2p config section: TCP, Noise, Yamux, identify,
// ping, and the DHT and gossipsub when enabled, with the connection and stream limits applied.

import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import './socket-reset.js';
import './yamux-reset.js';
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import type { PrivateKey } from '@libp2p/interface';
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import type { Libp2pOptions } from 'libp2p';
import type { NodeConfig } from '../../core/config/schema.js';
import { PRODUCT_VERSION } from '../../core/version.js';

export type P2pConfig = NodeConfig['p2p'];

/** The cluster's own DHT, apart from the public IPFS one. */
export const DHT_PROTOCOL = '/ollama-distributed/kad/1.0.0';

/**
 * Yamux widens a stream's window up to this; a paused reader may hold a full window, so the read
 * buffer limit sits above it.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;

/** libp2p's own per-address cap; a peer with several addresses tries the next after it. */
const ADDRESS_DIAL_MS = 6000;

const PRIVATE_V4 = [/^10\./, /^127\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^169\.254\./, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./, /^0\.0\.0\.0$/];

function isPublicIp(name: string, value: string): boolean {
  if (name === 'ip4') return !PRIVATE_V4.some((range) => range.test(value));
  if (name === 'ip6') return !/^(::1?|f[cd][0-9a-f]{2}:.*|fe[89ab][0-9a-f]:.*)$/i.test(value);
  return false;
}

/**
 * The DHT keeps only public addresses by default, which leaves it empty on a LAN, in Docker or in
 * Kubernetes; a node that advertises any private, loopback or DNS address keeps them all.
 */
export function advertisesOnlyPublic(addresses: readonly string[]): boolean {
  return addresses.every((address) => {
    const first = multiaddr(address).getComponents()[0];
    return first !== undefined && first.value !== undefined && isPublicIp(first.name, first.value);
  });
}

export function libp2pOptions(p2p: P2pConfig, privateKey: PrivateKey): Libp2pOptions<Record<string, unknown>> {
  const advertised = p2p.announce.length > 0 ? p2p.announce : [p2p.listen];
  const services: Record<string, unknown> = {
    identify: identify({ runOnConnectionOpen: false }),
    ping: ping(),
  };
  if (p2p.enable_dht) {
    services.dht = kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: advertisesOnlyPublic(advertised) ? removePrivateAddressesMapper : passthroughMapper,
      allowQueryWithZeroPeers: true,
    });
  }
  if (p2p.enable_pubsub) {
    services.pubsub = gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false });
  }
  return {
    privateKey,
    start: false,
    nodeInfo: { userAgent: `ollama-distributed/${PRODUCT_VERSION}` },
    addresses: { listen: [p2p.listen], announce: p2p.announce.length > 0 ? [...p2p.announce] : undefined },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        maxInboundStreams: p2p.max_streams,
        maxOutboundStreams: p2p.max_streams,
        streamOptions: { maxStreamWindowSize: STREAM_WINDOW_BYTES, maxReadBufferLength: 2 * STREAM_WINDOW_BYTES },
      }),
    ],
    connectionManager: {
      maxConnections: p2p.conn_mgr_high,
      dialTimeout: p2p.dial_timeout,
      addressDialTimeout: Math.min(ADDRESS_DIAL_MS, p2p.dial_timeout),
    },
    services: services as Libp2pOptions<Record<string, unknown>>['services'],
  };
}
