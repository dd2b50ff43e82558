// A loopback HTTP proxy in front of a registry that rewrites the manifests it serves, as a broken
// mirror or a man in the middle would, so tests can show which checks a pull makes before it trusts one.

import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';

export interface ServedManifest {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

export interface TamperingProxy {
  /** host:port of the proxy. */
  host: string;
  /** Manifests handed to `tamper` so far. */
  readonly tampered: number;
  close(): Promise<void>;
}

/** The Docker-Content-Digest an honest registry would send for `body`. */
export function contentDigest(body: Uint8Array): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** `tamper` sees each successful manifest GET; blobs and everything else pass unchanged. */
export async function startTamperingProxy(upstreamPort: number, tamper: (served: ServedManifest) => ServedManifest): Promise<TamperingProxy> {
  let tampered = 0;
  const server = createServer((incoming, outgoing) => {
    const upstream = request(
      { host: '127.0.0.1', port: upstreamPort, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        const isManifest = incoming.method === 'GET' && /\/manifests\/[^/]+$/.test(incoming.url ?? '') && answer.statusCode === 200;
        if (!isManifest) {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const served = tamper({ body: Buffer.concat(chunks), headers: { ...answer.headers } });
          tampered++;
          outgoing.writeHead(200, { ...served.headers, 'content-length': String(served.body.byteLength) });
          outgoing.end(served.body);
        });
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no port from the proxy listener');
  return {
    host: `127.0.0.1:${address.port}`,
    get tampered() {
      return tampered;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
