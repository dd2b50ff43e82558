// Caps the connections the API server holds. At the cap a new connection closes the one not serving
// a request that has been quiet longest (silent, slow with its headers, or idle between keep-alive
// requests): a flood of half-open connections does not push out a client that keeps talking.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Held {
  /** Requests on this connection whose responses have not ended. */
  serving: number;
  /** When it connected or last finished an answer (performance.now()). */
  since: number;
}

/**
 * Which connection to close when `open` holds one more than allowed: the one not serving that has
 * been quiet longest, or else the newest, so running requests are never cut for a newcomer.
 */
export function connectionToClose<T>(open: Iterable<[T, Held]>, newest: T): T {
  let quietest: [T, Held] | undefined;
  for (const entry of open) if (entry[1].serving === 0 && (!quietest || entry[1].since < quietest[1].since)) quietest = entry;
  return quietest?.[0] ?? newest;
}

/**
 * `event` is where the server hands over a connection that requests will arrive on: 'connection'
 * for HTTP, 'secureConnection' for HTTPS, whose handshakes the TLS handshake timeout bounds.
 */
export function limitConnections(server: Server, max: number, event: 'connection' | 'secureConnection'): void {
  const open = new Map<Socket, Held>();
  server.on(event, (socket: Socket) => {
    open.set(socket, { serving: 0, since: performance.now() });
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
    response.once('close', () => {
      held.serving -= 1;
      held.since = performance.now();
    });
  });
}
