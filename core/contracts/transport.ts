// The transport contract: peer identity, streams by protocol id, gossip topics and content
// routing between nodes. Implementation: plugins/transport-libp2p.

import type { Startable } from './plugin.js';

/** A bidirectional byte stream to a peer for one protocol. */
export interface PeerStream extends AsyncIterable<Uint8Array> {
  readonly peerId: string;
  readonly protocol: string;
  /** Resolves when the bytes are accepted; applies backpressure. */
  write(chunk: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Ends our writing side; reading continues until the peer closes. */
  closeWrite(): Promise<void>;
  /** Closes both sides with an error. */
  abort(error: Error): void;
}

export type StreamHandler = (stream: PeerStream) => void | Promise<void>;

export interface GossipMessage {
  from: string;
  topic: string;
  data: Uint8Array;
}

export interface PeerInfo {
  peerId: string;
  addresses: string[];
}

/** A peer became reachable (admitted into the cluster) or its last connection closed. */
export interface PeerEvent {
  type: 'connected' | 'disconnected';
  peerId: string;
}

/**
 * Invariants:
 * - `peerId` is stable across restarts for the same data dir.
 * - Only peers admitted by the cluster's membership rules can open streams or gossip.
 * - Every dial and lookup honours its AbortSignal; none waits forever.
 * Concurrency: all methods may be called concurrently once started.
 */
export interface Transport extends Startable {
  readonly peerId: string;
  /** Multiaddrs the node listens on, with its peer id. */
  addresses(): string[];
  /** Peers admitted and connected now. */
  peers(): PeerInfo[];
  /** Fires only for admitted peers; returns the unsubscribe function. */
  onPeerEvent(listener: (event: PeerEvent) => void): () => void;
  dial(peer: string | PeerInfo, signal?: AbortSignal): Promise<void>;
  handle(protocol: string, handler: StreamHandler): void;
  unhandle(protocol: string): void;
  /** Closes every connection to the peer. */
  hangUp(peerId: string, signal?: AbortSignal): Promise<void>;
  openStream(peerId: string, protocol: string, signal?: AbortSignal): Promise<PeerStream>;
  publish(topic: string, data: Uint8Array): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(topic: string, listener: (message: GossipMessage) => void): () => void;
  /** Announces that this node holds `key` (e.g. a blob digest). */
  provide(key: string, signal?: AbortSignal): Promise<void>;
  findProviders(key: string, signal?: AbortSignal): AsyncIterable<PeerInfo>;
}
