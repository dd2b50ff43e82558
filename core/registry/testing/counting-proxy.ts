// A loopback TCP proxy that counts the bytes a server sends and can cut every connection once a
// count is reached, to test resume after a network cut and to measure re-downloads.

import { createServer, connect, type Socket } from 'node:net';

export interface CountingProxy {
  /** host:port of the proxy. */
  host: string;
  /** Bytes sent by the upstream server so far, over all connections. */
  readonly served: number;
  /** Bytes clients sent to the upstream server so far. */
  readonly uploaded: number;
  /** Destroys every open connection once the count reaches `bytes`; new connections still pass. */
  cutAt(bytes: number, count?: 'served' | 'uploaded'): Promise<void>;
  close(): Promise<void>;
}

/** `rateBytesPerSecond` paces what the server sends, over all connections, so a test can act mid-transfer. */
export async function startCountingProxy(upstreamPort: number, options: { rateBytesPerSecond?: number } = {}): Promise<CountingProxy> {
  const sockets = new Set<Socket>();
  const rate = options.rateBytesPerSecond;
  let paceUntil = 0;
  let served = 0;
  let uploaded = 0;
  let cut: { at: number; count: 'served' | 'uploaded'; resolve: () => void } | undefined;
  const reached = () => cut !== undefined && (cut.count === 'served' ? served : uploaded) >= cut.at;
  const cutAll = () => {
    const pending = cut;
    cut = undefined;
    for (const socket of sockets) socket.destroy();
    pending?.resolve();
  };
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const forget = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', forget).on('error', forget);
    upstream.on('close', forget).on('error', forget);
    client.on('data', (chunk: Buffer) => {
      uploaded += chunk.byteLength;
      if (reached()) cutAll();
    });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      served += chunk.byteLength;
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
      if (rate) {
        const now = Date.now();
        paceUntil = Math.max(paceUntil, now) + (chunk.byteLength * 1000) / rate;
        if (paceUntil - now >= 1) {
          upstream.pause();
          setTimeout(() => upstream.resume(), paceUntil - now);
        }
      }
      if (reached()) cutAll();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no port from the proxy listener');
  return {
    host: `127.0.0.1:${address.port}`,
    get served() {
      return served;
    },
    get uploaded() {
      return uploaded;
    },
    cutAt: (bytes, count = 'served') =>
      new Promise<void>((resolve) => {
        cut = { at: bytes, count, resolve };
        if (reached()) cutAll();
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
