// HTTP/1.1 over a PeerStream through PeerSocket: Node's HTTP server takes it as a connection and an
// undici client dials it; a corked chunk goes as one write; a destroyed socket resets the stream.

import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import t from 'tap';
import { Client } from 'undici';
import type { PeerStream } from '../../contracts/transport.js';
import { PeerSocket } from './peer-socket.js';

/** One side of an in-memory stream pair, counting the writes that cross it. */
class MemoryStream implements PeerStream {
  readonly protocol = '/test/1.0.0';
  writes: Uint8Array[] = [];
  aborted: Error | undefined;
  other!: MemoryStream;
  private readonly queue: Uint8Array[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly peerId: string) {}

  deliver(chunk: Uint8Array | 'end' | Error): void {
    if (chunk === 'end') this.ended = true;
    else if (chunk instanceof Error) this.failure = chunk;
    else this.queue.push(chunk);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) yield chunk;
      else if (this.failure) throw this.failure;
      else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.writes.push(chunk);
    this.other.deliver(chunk);
  }

  async closeWrite(): Promise<void> {
    this.other.deliver('end');
  }

  abort(error: Error): void {
    this.aborted = error;
    this.other.deliver(error);
  }
}

function pair(): [MemoryStream, MemoryStream] {
  const client = new MemoryStream('server-peer');
  const server = new MemoryStream('client-peer');
  client.other = server;
  server.other = client;
  return [client, server];
}

t.test('requests and chunked answers cross, each chunk in one write, over one kept-alive stream', async (t) => {
  const [clientSide, serverSide] = pair();
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson' });
      response.write(`{"echo":${JSON.stringify(`${request.method} ${request.url} ${body}`)}}\n`);
      setTimeout(() => response.end('{"done":true}\n'), 5);
    });
  });
  server.emit('connection', new PeerSocket(serverSide));
  let dials = 0;
  const client = new Client('http://peer.invalid', {
    // undici takes the socket only after its connect call returned, as a stream opens.
    connect: (_options, callback) => {
      dials += 1;
      setImmediate(() => callback(null, new PeerSocket(clientSide) as unknown as Socket));
    },
  });
  t.teardown(() => client.destroy());
  for (const path of ['/one?x=1', '/two']) {
    const response = await client.request({ method: 'POST', path, body: 'hello' });
    t.equal(response.statusCode, 200);
    t.equal(await response.body.text(), `{"echo":"POST ${path} hello"}\n{"done":true}\n`);
  }
  t.equal(dials, 1, 'the second request reused the stream');
  const before = serverSide.writes.length;
  const streamed = await client.request({ method: 'GET', path: '/three' });
  await streamed.body.text();
  // Headers with the first chunk, the last chunk with the terminating zero-length chunk.
  t.equal(serverSide.writes.length - before, 2, 'corked writes go as one');
});

t.test('destroying the socket resets the stream; a reset stream errors the socket', async (t) => {
  const [clientSide, serverSide] = pair();
  const socket = new PeerSocket(clientSide);
  const serverSocket = new PeerSocket(serverSide);
  const errored = new Promise<Error>((resolve) => serverSocket.once('error', resolve));
  socket.destroy();
  t.ok(clientSide.aborted, 'the stream was aborted');
  t.match((await errored).message, /closed/);
  t.equal(socket.peerId, 'server-peer');
});

t.test('an idle socket times out as net.Socket does', async (t) => {
  const [clientSide] = pair();
  const socket = new PeerSocket(clientSide);
  const started = performance.now();
  // Its timer, like net.Socket's, does not hold the process open.
  const hold = setTimeout(() => undefined, 1000);
  await new Promise<void>((resolve) => socket.setTimeout(30, resolve));
  clearTimeout(hold);
  t.ok(performance.now() - started >= 25);
  socket.destroy();
});
