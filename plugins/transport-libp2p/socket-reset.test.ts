// The socket reset fix: resetting a socket whose end is already sent closes it, so nothing of
// it keeps the process alive.

import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import t from 'tap';
import './socket-reset.js';

t.test('reset after end closes the socket', async (t) => {
  const accepted: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  client.on('error', () => undefined);
  client.end();
  client.resetAndDestroy();
  const closed = await Promise.race([once(client, 'close').then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 1000))]);
  t.ok(closed, 'the socket closes, and with it its handle');
});
