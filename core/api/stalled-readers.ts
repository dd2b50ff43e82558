// Cuts clients that stop reading. Responses wait for the client (a slow reader slows its own run),
// so one that takes nothing would hold an engine slot for good; a connection whose unsent bytes
// have not moved for `timeoutMs` is closed, which aborts its request and frees the slot.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface Watched {
  /** socket.bytesWritten when its backlog was last seen moving. */
  written: number;
  since: number;
}

/** Whether a socket with unsent bytes has stood still too long; updates `watched` as it moves. */
export function stalled(watched: Watched, backlog: number, written: number, now: number, timeoutMs: number): boolean {
  if (backlog === 0 || written !== watched.written) {
    watched.written = written;
    watched.since = now;
    return false;
  }
  return now - watched.since >= timeoutMs;
}

/** Checks every `intervalMs`; `event` as in limitConnections. Returns the function that stops it. */
export function cutStalledReaders(server: Server, timeoutMs: number, event: 'connection' | 'secureConnection', intervalMs = 1000): () => void {
  const open = new Map<Socket, Watched>();
  server.on(event, (socket: Socket) => {
    open.set(socket, { written: socket.bytesWritten, since: Date.now() });
    socket.once('close', () => open.delete(socket));
  });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, watched] of open) {
      if (stalled(watched, socket.writableLength, socket.bytesWritten, now, timeoutMs)) {
        open.delete(socket);
        socket.destroy();
      }
    }
  }, intervalMs);
  sweep.unref();
  return () => clearInterval(sweep);
}
