// What a node answers where Ollama's Gin router answers for itself (404, 405 with Allow, trailing
// slash redirects, HEAD only where Ollama registers it) and which version it reports where.

import t from 'tap';
import { OLLAMA_API_VERSION, PRODUCT_VERSION } from '../version.js';
import { nodeFor } from './ollama/test-support.js';
import { RouteTable } from './unmatched.js';

t.test('the route table matches parameters and wildcards, lists methods in Gin\'s order', async (t) => {
  const table = new RouteTable();
  table.add('POST', '/api/blobs/:digest');
  table.add('HEAD', '/api/blobs/:digest');
  table.add(['GET', 'HEAD'], '/api/tags');
  table.add('GET', '/v1/models/*');
  table.add('OPTIONS', '*');
  t.same(table.methodsFor('/api/blobs/sha256:abc'), ['HEAD', 'POST']);
  t.same(table.methodsFor('/api/blobs/a/b'), [], 'a parameter is one segment');
  t.same(table.methodsFor('/api/tags'), ['HEAD', 'GET']);
  t.same(table.methodsFor('/v1/models/me/other:v1'), ['GET']);
  t.same(table.methodsFor('/nope'), [], 'a catch-all route says nothing about a path');
  t.equal(table.trailingSlashTwin('GET', '/api/tags/'), '/api/tags');
  t.equal(table.trailingSlashTwin('POST', '/api/tags/'), undefined, 'only a route of the same method redirects');
  t.equal(table.trailingSlashTwin('GET', '/'), undefined);
});

t.test('a node answers unknown routes and wrong methods as Gin does', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  const ask = (method: string, path: string) => fetch(`${url}${path}`, { method, redirect: 'manual' });

  for (const path of ['/api/nope', '/v1/nope', '/api/v1/nope']) {
    const response = await ask('GET', path);
    t.equal(response.status, 404, path);
    t.equal(response.headers.get('content-type'), 'text/plain', 'exactly text/plain, as Gin sets it');
    t.equal(await response.text(), '404 page not found');
  }

  const cases: [string, string, string][] = [
    ['GET', '/api/chat', 'POST'],
    ['POST', '/api/tags', 'HEAD, GET'],
    ['GET', '/api/delete', 'DELETE'],
    ['HEAD', '/api/ps', 'GET'],
    ['GET', '/api/blobs/sha256:abc', 'HEAD, POST'],
    ['GET', '/v1/chat/completions', 'POST'],
    ['GET', '/v1/responses', 'POST'],
    ['GET', '/v1/messages', 'POST'],
    ['POST', '/api/version', 'HEAD, GET'],
    ['DELETE', '/', 'HEAD, GET'],
  ];
  for (const [method, path, allow] of cases) {
    const response = await ask(method, path);
    t.equal(response.status, 405, `${method} ${path}`);
    t.equal(response.headers.get('allow'), allow, `${method} ${path} allows ${allow}`);
    t.equal(response.headers.get('content-type'), 'text/plain');
    t.equal(await response.text(), method === 'HEAD' ? '' : '405 method not allowed');
  }

  for (const path of ['/', '/api/version', '/api/tags']) t.equal((await ask('HEAD', path)).status, 200, `HEAD ${path}, which Ollama registers`);

  const get = await ask('GET', '/api/tags/?x=1');
  t.equal(get.status, 301, 'GET with a trailing slash moves permanently');
  t.equal(get.headers.get('location'), '/api/tags?x=1');
  t.equal(await get.text(), '<a href="/api/tags?x=1">Moved Permanently</a>.\n\n');
  const post = await ask('POST', '/api/chat/');
  t.equal(post.status, 307, 'another method is redirected with its body kept');
  t.equal(post.headers.get('location'), '/api/chat');
});

t.test('/api/version reports the Ollama API the node implements; health and the CLI the product', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  const version = await fetch(`${url}/api/version`);
  t.equal(version.headers.get('content-type'), 'application/json; charset=utf-8');
  t.same(await version.json(), { version: OLLAMA_API_VERSION });
  const [major, minor] = OLLAMA_API_VERSION.split('.').map(Number);
  t.ok(major! > 0 || minor! >= 13, `${OLLAMA_API_VERSION} is at least 0.13, where /v1/responses arrived`);
  const health = (await (await fetch(`${url}/api/v1/health`)).json()) as { version: string };
  t.equal(health.version, PRODUCT_VERSION);
  t.not(PRODUCT_VERSION, OLLAMA_API_VERSION);
});
