// Forwarding over libp2p: HTTP/1.1 on streams of the forward protocol. Each pooled connection is a
// stream to the target's peer, and the target hands each stream it accepts to its own HTTP server.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Pool, type buildConnector } from 'undici';
import type { Member } from '../../cluster/types.js';
import type { Transport } from '../../contracts/transport.js';
import type { Forwarder } from './forwarder.js';
import { PeerSocket } from './peer-socket.js';
import { POOL_OPTIONS, PooledForwarder } from './pooled-forwarder.js';

export const FORWARD_PROTOCOL = '/ollama-distributed/forward/1.0.0';

function streamPool(transport: Transport, target: Member): Pool {
  const connect: buildConnector.connector = (_options, callback) => {
    transport.openStream(target.peerId, FORWARD_PROTOCOL).then(
      (stream) => callback(null, new PeerSocket(stream) as unknown as Socket),
      (error: Error) => callback(error, null),
    );
  };
  // The origin only names the pool: the request's own Host header goes with it.
  return new Pool(`http://${target.id}.p2p.invalid`, { ...POOL_OPTIONS, connect });
}

export function libp2pForwarder(transport: Transport): Forwarder {
  return new PooledForwarder({ address: (target) => target.peerId, open: (target) => streamPool(transport, target) });
}

/** Serves forwarded requests arriving on libp2p streams through `server`; returns the undo. */
export function acceptForwardStreams(transport: Transport, server: Server): () => void {
  transport.handle(FORWARD_PROTOCOL, (stream) => {
    server.emit('connection', new PeerSocket(stream));
  });
  return () => transport.unhandle(FORWARD_PROTOCOL);
}
