// The libp2p transport: one libp2p node per ollama-distributed node, its key in the data dir,
// admitting only peers that pass the cluster join handshake, and keeping its bootstrap peers.

import type { GossipSub } from '@libp2p/gossipsub';
import type { Identify } from '@libp2p/identify';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import type { Logger } from 'pino';
import { CLUSTER_PROTOCOL_VERSION } from '../../core/cluster/types.js';
import type { Startable } from '../../core/contracts/plugin.js';
import type { GossipMessage, PeerEvent, PeerInfo, PeerStream, StreamHandler, Transport } from '../../core/contracts/transport.js';
import { Lifecycle } from '../../core/kernel/lifecycle.js';
import { PRODUCT_VERSION } from '../../core/version.js';
import { Admission } from './admission.js';
import { Bootstrap } from './bootstrap.js';
import { ConnectionTrim } from './connection-trim.js';
import { resolveClusterKey } from '../../core/cluster/cluster-key.js';
import { dialTarget } from './dial-target.js';
import { GossipTopics } from './gossip.js';
import type { JoinIdentity } from './join-protocol.js';
import { libp2pOptions, type P2pConfig } from './libp2p-options.js';
import { loadNodeKey } from './node-key.js';
import { peerStream } from './stream.js';

type Services = { identify: Identify; dht?: KadDHT; pubsub?: GossipSub };

interface Running {
  libp2p: Libp2p<Services>;
  admission: Admission;
  bootstrap: Bootstrap;
  trim: ConnectionTrim;
  gossip: GossipTopics | undefined;
}

export interface Libp2pTransportOptions {
  p2p: P2pConfig;
  dataDir: string;
  logger: Logger;
  /** api.listen, for the warning that an open cluster is reachable. */
  apiListen: string;
  /** The cluster protocol this node speaks; another value models a node of another release. */
  clusterProtocol?: number;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** The key string a caller provides, as the CID the DHT stores. */
async function contentId(key: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(key)));
}

function portInUse(error: unknown): boolean {
  for (let e = error as { code?: string; cause?: unknown; message?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'EADDRINUSE' || /EADDRINUSE/.test(e.message ?? '')) return true;
  }
  return false;
}

export class Libp2pTransport implements Transport, Startable {
  private readonly lifecycle = new Lifecycle<Running>('libp2p transport');
  private readonly listeners = new Set<(event: PeerEvent) => void>();
  private readonly handlers = new Map<string, StreamHandler>();
  /** Kept after stop: the id belongs to the data dir, not to one run. */
  private id: string | undefined;

  constructor(private readonly options: Libp2pTransportOptions) {}

  get peerId(): string {
    return this.id ?? this.lifecycle.started().libp2p.peerId.toString();
  }

  async start(): Promise<void> {
    await this.lifecycle.start(() => this.open());
  }

  async stop(): Promise<void> {
    const running = await this.lifecycle.stop();
    if (!running) return;
    await running.bootstrap.stop();
    running.trim.stop();
    await running.admission.stop();
    running.gossip?.close();
    await running.libp2p.stop();
  }

  private async open(): Promise<Running> {
    const { p2p, dataDir, logger } = this.options;
    const [privateKey, clusterKey] = await Promise.all([loadNodeKey(dataDir), resolveClusterKey(p2p.cluster_key)]);
    const libp2p = (await createLibp2p(libp2pOptions(p2p, privateKey))) as unknown as Libp2p<Services>;
    this.id = libp2p.peerId.toString();
    const self: JoinIdentity = { peerId: this.id, protocol: this.options.clusterProtocol ?? CLUSTER_PROTOCOL_VERSION, version: PRODUCT_VERSION, clusterKey };
    const admission = new Admission(libp2p, self, logger, {
      admitted: (peerId) => this.emit({ type: 'connected', peerId }),
      left: (peerId) => this.emit({ type: 'disconnected', peerId }),
    });
    await admission.start();
    for (const [protocol, handler] of this.handlers) await this.register(libp2p, admission, protocol, handler);
    try {
      await libp2p.start();
    } catch (error) {
      await admission.stop();
      await Promise.resolve(libp2p.stop()).catch(() => undefined);
      if (portInUse(error)) throw new Error(`p2p.listen ${p2p.listen} is in use: another node or program holds that port; choose another with --p2p-listen or OLLAMA_P2P_LISTEN`, { cause: error });
      throw new Error(`p2p.listen ${p2p.listen}: ${(error as Error).message}`, { cause: error });
    }
    const gossip = libp2p.services.pubsub ? new GossipTopics(libp2p.services.pubsub, (peerId) => admission.isMember(peerId)) : undefined;
    const trim = new ConnectionTrim(libp2p, p2p.conn_mgr_low, (peerId) => admission.isMember(peerId));
    trim.start();
    const bootstrap = new Bootstrap(libp2p, { addresses: p2p.bootstrap, dialTimeoutMs: p2p.dial_timeout, admission, logger });
    bootstrap.start();
    const addresses = libp2p.getMultiaddrs().map(String);
    logger.info({ peerId: self.peerId, addresses, cluster_key: clusterKey ? 'set' : 'none' }, 'p2p transport listening');
    this.warnIfOpen(clusterKey);
    return { libp2p, admission, bootstrap, trim, gossip };
  }

  private warnIfOpen(clusterKey: Uint8Array | undefined): void {
    if (clusterKey) return;
    const { apiListen, p2p } = this.options;
    const apiHost = apiListen.slice(0, apiListen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    const p2pHost = multiaddr(p2p.listen).getComponents()[0]?.value ?? '';
    if (isLoopback(apiHost) && isLoopback(p2pHost)) return;
    this.options.logger.warn(
      { listen: { api: apiListen, p2p: p2p.listen } },
      'the cluster is open: no p2p.cluster_key is set, so anyone who can reach these ports can join; make a key with `ollama-distributed cluster-key`',
    );
  }

  addresses(): string[] {
    return this.lifecycle.started().libp2p.getMultiaddrs().map(String);
  }

  peers(): PeerInfo[] {
    return this.lifecycle.current?.admission.list() ?? [];
  }

  onPeerEvent(listener: (event: PeerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: PeerEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.error({ err: error, event }, 'a peer event listener threw');
      }
    }
  }

  private dialSignal(signal?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.p2p.dial_timeout);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  /** Resolves once the peer is admitted; rejects with the refusal's words when it is not. */
  async dial(peer: string | PeerInfo, signal?: AbortSignal): Promise<void> {
    const { libp2p, admission } = this.lifecycle.started();
    const target = typeof peer === 'string' ? dialTarget(peer) : peer.addresses.length > 0 ? dialTarget(peer.addresses) : peerIdFromString(peer.peerId);
    const connection: Connection = await libp2p.dial(target, { signal: this.dialSignal(signal) });
    await admission.admission(connection);
  }

  handle(protocol: string, handler: StreamHandler): void {
    this.handlers.set(protocol, handler);
    const running = this.lifecycle.current;
    if (running) void this.register(running.libp2p, running.admission, protocol, handler);
  }

  unhandle(protocol: string): void {
    this.handlers.delete(protocol);
    void this.lifecycle.current?.libp2p.unhandle(protocol);
  }

  private async register(libp2p: Libp2p, admission: Admission, protocol: string, handler: StreamHandler): Promise<void> {
    const limit = this.options.p2p.max_streams;
    const onStream = (stream: Stream, connection: Connection) => {
      const peerId = connection.remotePeer.toString();
      if (!admission.isMember(peerId)) {
        stream.abort(new Error(`peer ${peerId} is not a member of the cluster`));
        return;
      }
      void Promise.resolve()
        .then(() => handler(peerStream(stream, peerId)))
        .catch((error: Error) => {
          this.options.logger.warn({ peer: peerId, protocol, err: error }, 'stream handler failed');
          stream.abort(error);
        });
    };
    await libp2p.handle(protocol, onStream, { force: true, maxInboundStreams: limit, maxOutboundStreams: limit });
  }

  async hangUp(peerId: string, signal?: AbortSignal): Promise<void> {
    await this.lifecycle.started().libp2p.hangUp(peerIdFromString(peerId), { signal });
  }

  async openStream(peerId: string, protocol: string, signal?: AbortSignal): Promise<PeerStream> {
    const { libp2p, admission } = this.lifecycle.started();
    if (!admission.isMember(peerId)) throw new Error(`peer ${peerId} is not a member of the cluster`);
    const stream = await libp2p.dialProtocol(peerIdFromString(peerId), protocol, { signal: this.dialSignal(signal), maxOutboundStreams: this.options.p2p.max_streams });
    return peerStream(stream, peerId);
  }

  private topics(): GossipTopics {
    const gossip = this.lifecycle.started().gossip;
    if (!gossip) throw new Error('gossip is off on this node (p2p.enable_pubsub is false)');
    return gossip;
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    await this.topics().publish(topic, data);
  }

  subscribe(topic: string, listener: (message: GossipMessage) => void): () => void {
    return this.topics().subscribe(topic, listener);
  }

  private dht(): KadDHT {
    const dht = this.lifecycle.started().libp2p.services.dht;
    if (!dht) throw new Error('content routing is off on this node (p2p.enable_dht is false)');
    return dht;
  }

  async provide(key: string, signal?: AbortSignal): Promise<void> {
    this.dht();
    await this.lifecycle.started().libp2p.contentRouting.provide(await contentId(key), { signal });
  }

  async *findProviders(key: string, signal?: AbortSignal): AsyncIterable<PeerInfo> {
    this.dht();
    const self = this.peerId;
    for await (const provider of this.lifecycle.started().libp2p.contentRouting.findProviders(await contentId(key), { signal })) {
      const peerId = (provider.id as PeerId).toString();
      if (peerId !== self) yield { peerId, addresses: [...new Set(provider.multiaddrs.map(String))] };
    }
  }
}
