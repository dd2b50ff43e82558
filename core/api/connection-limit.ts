// Caps the connections the API server holds. At the cap a new connection closes the oldest one that
// is not serving a request (silent, slow with its headers, or idle between keep-alive requests).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Held {
  /** Requests on this connection whose responses have not ended. */
  serving: number;
}

/**
 * Which connection to close when `open` (oldest first) holds one more than allowed: the oldest not
 * serving, or else the newest, so running requests are never cut for a newcomer.
 */
export function connectionToClose<T>(open: Iterable<[T, Held]>, newest: T): T {
  for (const [connection, held] of open) if (held.serving === 0) return connection;
  return newest;
}

/**
 * `event` is where the server hands over a connection that requests will arrive on: 'connection'
 * for HTTP, 'secureConnection' for HTTPS, whose handshakes the TLS handshake timeout bounds.
 */
export function limitConnections(server: Server, max: number, event: 'connection' | 'secureConnection'): void {
  const open = new Map<Socket, Held>();
  server.on(event, (socket: Socket) => {
    open.set(socket, { serving: 0 });
    socket.once('close', () => open.delete(socket));
    if (open.size <= max) return;
    const victim = connectionToClose(open, socket);
    open.delete(victim);
    victim.destroy();
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const held = open.get(request.socket);
    if (!held) return;
    held.serving += 1;
    response.once('close', () => (held.serving -= 1));
  });
}
