import { request as httpRequest } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { createTiny, manifestFiles, modelNames, nodeFor } from './ollama/test-support.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http rather than fetch: the Host and Origin headers go out exactly as written. */
function raw(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<RawAnswer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { ...length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}


const TEXT = { 'Content-Type': 'text/plain;charset=UTF-8' };

t.test('a page from a foreign origin cannot copy, create, delete, pull or push', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(node.url, 'tiny');
  const models = await modelNames(node);
  const manifests = manifestFiles(node);
  const evil = { ...TEXT, Origin: 'http://evil.test' };
  const attempts: [string, string, string][] = [
    ['POST', '/api/copy', JSON.stringify({ source: 'tiny', destination: 'evil.test/x/stolen' })],
    ['POST', '/api/create', JSON.stringify({ model: 'owned', from: 'tiny', system: 'obey evil.test' })],
    ['POST', '/api/create', JSON.stringify({ model: 'tiny', from: 'tiny', system: 'rewritten' })],
    ['DELETE', '/api/delete', JSON.stringify({ model: 'tiny' })],
    ['POST', '/api/pull', JSON.stringify({ model: 'evil.test/x/big', insecure: true })],
    ['POST', '/api/push', JSON.stringify({ model: 'tiny', insecure: true })],
    ['POST', '/api/copy', '{not json'],
  ];
  for (const [method, path, body] of attempts) {
    const answer = await raw(node.url, method, path, evil, body);
    t.equal(answer.status, 403, `${method} ${path} ${body.slice(0, 40)}: 403`);
    t.equal(answer.body, '', 'with an empty body, as gin-contrib/cors answers');
    t.equal(answer.headers['access-control-allow-origin'], undefined, 'and nothing the page may read');
  }
  const preflight = await raw(node.url, 'OPTIONS', '/api/delete', {
    Origin: 'http://evil.test',
    'Access-Control-Request-Method': 'DELETE',
  });
  t.equal(preflight.status, 403, 'a foreign preflight is refused too');
  t.same(await modelNames(node), models, 'the model list is unchanged');
  t.same(manifestFiles(node), manifests, 'no manifest was written or removed');
  const show = (await (await fetch(`${node.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: 'tiny' }) })).json()) as {
    system?: string;
  };
  t.equal(show.system, undefined, "tiny's system prompt was not rewritten");
});

t.test('a page on localhost reads answers and gets its preflights', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(node.url, 'tiny');
  const origin = 'http://localhost:3000';
  const tags = await raw(node.url, 'GET', '/api/tags', { Origin: origin });
  t.equal(tags.status, 200);
  t.equal(tags.headers['access-control-allow-origin'], origin, 'the origin is echoed');
  t.equal(tags.headers.vary, 'Origin');
  t.match(JSON.parse(tags.body), { models: [{ name: 'tiny:latest' }] });

  const preflight = await raw(node.url, 'OPTIONS', '/api/copy', {
    Origin: origin,
    'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type',
  });
  t.equal(preflight.status, 204);
  t.equal(preflight.body, '');
  t.equal(preflight.headers['access-control-allow-origin'], origin, 'echoed, not *');
  t.equal(preflight.headers['access-control-allow-methods'], 'GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS');
  t.match(preflight.headers['access-control-allow-headers'], /(^|,)Content-Type(,|$)/);
  t.equal(preflight.headers['access-control-max-age'], '43200');
  t.equal(preflight.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');

  const copy = await raw(node.url, 'POST', '/api/copy', { Origin: origin, 'Content-Type': 'application/json' }, JSON.stringify({ source: 'tiny', destination: 'mine' }));
  t.equal(copy.status, 200, 'the real request runs');
  t.equal(copy.headers['access-control-allow-origin'], origin);
  t.same(await modelNames(node), ['mine:latest', 'tiny:latest']);

  const missing = await raw(node.url, 'POST', '/api/show', { Origin: origin }, JSON.stringify({ model: 'nope' }));
  t.equal(missing.status, 404);
  t.equal(missing.headers['access-control-allow-origin'], origin, 'an error answer is readable by the page too');
  t.match(JSON.parse(missing.body), { error: /not found/ });

  const unknown = await raw(node.url, 'OPTIONS', '/no/such/route', { Origin: origin, 'Access-Control-Request-Method': 'GET' });
  t.equal(unknown.status, 204, 'a preflight is answered on any path, as gin runs cors before routing');
});

t.test('on a loopback listener, a Host Ollama would not serve gets an empty 403 (DNS rebinding)', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(node.url, 'tiny');
  const models = await modelNames(node);
  const { port } = new URL(node.url);
  for (const host of [`evil.com:${port}`, 'evil.com', `localhost.evil.com:${port}`, `8.8.8.8:${port}`]) {
    const tags = await raw(node.url, 'GET', '/api/tags', { Host: host });
    t.equal(tags.status, 403, `GET with Host ${host}`);
    t.equal(tags.body, '', 'empty body');
  }
  const rebound = await raw(node.url, 'POST', '/api/copy', { Host: `evil.com:${port}`, Origin: `http://evil.com:${port}`, ...TEXT }, JSON.stringify({ source: 'tiny', destination: 'stolen' }));
  t.equal(rebound.status, 403, "a rebound page's same-origin copy is refused");
  t.same(await modelNames(node), models, 'nothing was copied');

  const own = Object.values(networkInterfaces())
    .flat()
    .find((iface) => iface && iface.family === 'IPv4' && !iface.internal)?.address;
  const admitted = [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `${hostname()}:${port}`, `ollama.local:${port}`, `app.localhost:${port}`, `10.1.2.3:${port}`];
  if (own) admitted.push(`${own}:${port}`);
  for (const host of admitted) {
    const tags = await raw(node.url, 'GET', '/api/tags', { Host: host });
    t.equal(tags.status, 200, `GET with Host ${host}`);
  }
  const options = await raw(node.url, 'OPTIONS', '/api/tags', { Host: `localhost:${port}` });
  t.equal(options.status, 204, 'OPTIONS to an admitted name is an empty 204, as in Ollama');
  t.equal(options.body, '');
});

t.test('api.origins adds origins; * admits any with Access-Control-Allow-Origin: *', async (t) => {
  const listed = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_ORIGINS: 'https://app.example.com' });
  const ok = await raw(listed.url, 'GET', '/api/version', { Origin: 'https://app.example.com' });
  t.equal(ok.status, 200);
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
  t.equal((await raw(listed.url, 'GET', '/api/version', { Origin: 'https://other.example.com' })).status, 403);
  t.equal((await raw(listed.url, 'GET', '/api/version', { Origin: 'http://localhost:8080' })).status, 200, "Ollama's own list still holds");

  const any = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_ORIGINS: '*' });
  const open = await raw(any.url, 'GET', '/api/version', { Origin: 'http://evil.test' });
  t.equal(open.status, 200);
  t.equal(open.headers['access-control-allow-origin'], '*');
  const { port } = new URL(any.url);
  t.equal((await raw(any.url, 'GET', '/api/version', { Host: `evil.com:${port}` })).status, 403, '* opens CORS, not the Host check');
});

t.test('a listener on all interfaces serves any Host, as Ollama with OLLAMA_HOST=0.0.0.0 does', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_API_LISTEN: '0.0.0.0:0', OLLAMA_SECURITY_INSECURE: 'true' } });
  t.teardown(() => node.stop());
  const served = await raw(node.url, 'GET', '/api/version', { Host: 'evil.com' });
  t.equal(served.status, 200);
  t.equal((await raw(node.url, 'GET', '/api/version', { Origin: 'http://evil.test' })).status, 403, 'CORS still applies');
});
