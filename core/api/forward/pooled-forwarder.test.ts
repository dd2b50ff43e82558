// The HTTP forwarder against a real server: requests go unchanged, a target that leaves the view
// fails what waits on it at once (no answer needed), and a moved target gets a fresh pool.

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import t, { type Test } from 'tap';
import { announcement } from '../../cluster/test-support.js';
import type { Member } from '../../cluster/types.js';
import { httpForwarder } from './pooled-forwarder.js';

async function server(t: Test, hang: IncomingMessage[], name = 'server') {
  const http = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/hang') return void hang.push(request);
      response.writeHead(201, { 'x-server': name, 'x-seen': `${request.method} ${request.url} ${request.headers['x-mark']} ${body}` });
      response.end('done');
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    http.closeAllConnections();
    http.close();
  });
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

const target = (apiUrl: string): Member => ({ ...announcement('n1'), apiUrl, healthy: true, lastSeen: 0, self: false });

t.test('a request goes with its method, path, headers and body; the answer comes back as sent', async (t) => {
  const url = await server(t, []);
  const forwarder = httpForwarder();
  t.teardown(() => forwarder.close());
  const response = await forwarder.send(target(url), { method: 'POST', path: '/x?y=1', headers: { 'x-mark': 'm' }, body: Buffer.from('{"a":1}') }, new AbortController().signal);
  t.equal(response.status, 201);
  t.equal(response.headers['x-seen'], 'POST /x?y=1 m {"a":1}');
  t.equal(await text(response.body), 'done');
});

t.test('a target that leaves the view fails its waiting requests at once', async (t) => {
  const hang: IncomingMessage[] = [];
  const url = await server(t, hang);
  const forwarder = httpForwarder();
  t.teardown(() => forwarder.close());
  const pending = forwarder.send(target(url), { method: 'POST', path: '/hang', headers: {}, body: undefined }, new AbortController().signal);
  while (hang.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  forwarder.retain(new Set(['n2']));
  await t.rejects(pending, { message: 'node n1 left the cluster' });
  forwarder.retain(new Set());
});

t.test('a target whose URL changed is reached at the new one', async (t) => {
  const first = await server(t, [], 'first');
  const second = await server(t, [], 'second');
  const forwarder = httpForwarder();
  t.teardown(() => forwarder.close());
  const send = (url: string) => forwarder.send(target(url), { method: 'GET', path: '/where', headers: {}, body: undefined }, new AbortController().signal);
  for (const [url, name] of [[first, 'first'], [second, 'second']]) {
    const response = await send(url!);
    await text(response.body);
    t.equal(response.headers['x-server'], name);
  }
});
