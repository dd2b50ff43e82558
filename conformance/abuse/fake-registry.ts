// An "attacker's registry" on loopback that only counts who connects: a push or pull a web page
// slipped through would show here, and no byte leaves the machine.

import { createServer, type Socket } from 'node:net';

export interface FakeRegistry {
  /** host:port, for model names such as 127.0.0.1:5000/attacker/tiny. */
  host: string;
  connections(): number;
  close(): Promise<void>;
}

const ANSWER = 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

export async function startFakeRegistry(): Promise<FakeRegistry> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', () => socket.end(ANSWER));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
