// What a node holds at once: pending inference requests (OLLAMA_MAX_QUEUE, then Ollama's 503),
// client connections (api.max_connections) and how long a client may take over its headers.

import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { createTiny, nodeFor, post } from './ollama/test-support.js';

/** A connection that sends the start of a request and never finishes its headers. */
async function slowClient(url: string): Promise<{ socket: Socket; closed: () => boolean; closing: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {});
  // Flowing, so an answer the node sends before closing (408) does not hold back 'close'.
  socket.resume();
  socket.write('GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  let isClosed = false;
  const closing = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closing.then(() => (isClosed = true));
  return { socket, closed: () => isClosed, closing };
}

/** A POST over a connection of its own, closed after the answer (fetch would reuse pooled ones). */
function postOnOwnConnection(url: string, path: string, body: unknown): Promise<{ status: number; body: { eval_count?: number } }> {
  return new Promise((resolve, reject) => {
    const sent = request(`${url}${path}`, { method: 'POST', agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    sent.on('error', reject);
    sent.end(JSON.stringify(body));
  });
}

const settle = (ms = 200) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('past OLLAMA_MAX_QUEUE pending requests a new one gets 503 with Ollama\'s words', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_MAX_QUEUE: '3' });
  await createTiny(node.url, 'tiny');
  // One slot (num_parallel 1) and 20 tokens at the sim's 50 tokens/s: each run holds its slot for 400 ms or more.
  const generate = () => post(node.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 20 } });
  const answers = await Promise.all([1, 2, 3, 4, 5].map(async () => {
    const response = await generate();
    return { status: response.status, body: (await response.json()) as { eval_count?: number; error?: string } };
  }));
  const refused = answers.filter((a) => a.status === 503);
  t.equal(refused.length, 1, 'one runs, three wait, the fifth is refused');
  t.same(refused[0]?.body, { error: 'server busy, please try again.  maximum pending requests exceeded' });
  t.same(
    answers.filter((a) => a.status === 200).map((a) => a.body.eval_count),
    [20, 20, 20, 20],
    'the four admitted ones run to the end',
  );
  const later = await generate();
  t.equal(later.status, 200, 'finished requests free their places');
  await later.text();
});

t.test('past api.max_connections the oldest connection not serving a request is closed', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_API_MAX_CONNECTIONS: '20' });
  const slow: Awaited<ReturnType<typeof slowClient>>[] = [];
  for (let i = 0; i < 60; i += 1) slow.push(await slowClient(node.url));
  await settle();
  const open = () => slow.filter((client) => !client.closed()).length;
  t.equal(open(), 20, 'the node holds no more than 20 connections');
  t.ok(slow.slice(0, 40).every((client) => client.closed()), 'the oldest 40 were closed');

  const started = performance.now();
  const version = await fetch(`${node.url}/api/version`);
  const took = performance.now() - started;
  t.equal(version.status, 200, 'a normal client is served while slow clients fill the cap');
  t.match(await version.json(), { version: /^\d/ });
  t.ok(took < 1000, `/api/version answered in ${took.toFixed(0)} ms`);
  await settle();
  t.equal(open(), 19, 'its connection took the place of the oldest slow one');
  for (const client of slow) client.socket.destroy();
});

t.test('when every connection is serving, a new one is closed and the running requests finish', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_API_MAX_CONNECTIONS: '2' });
  await createTiny(node.url, 'tiny');
  const running = [1, 2].map(() => postOnOwnConnection(node.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 25 } }));
  await settle(150);
  const newcomer = await slowClient(node.url);
  newcomer.socket.write('\r\n');
  let answer = '';
  newcomer.socket.on('data', (chunk) => (answer += chunk));
  await Promise.race([newcomer.closing, settle(5000)]);
  t.ok(newcomer.closed(), 'the third connection was closed');
  t.equal(answer, '', 'without an answer');
  newcomer.socket.destroy();
  const finished = await Promise.all(running);
  t.same(
    finished.map((f) => [f.status, f.body.eval_count]),
    [
      [200, 25],
      [200, 25],
    ],
    'both running requests finished',
  );
});

t.test('a client that does not finish its headers within api.headers_timeout is disconnected', async (t) => {
  const node = await nodeFor(t, { OLLAMA_ENGINE: 'sim', OLLAMA_API_HEADERS_TIMEOUT: '1s' });
  const started = performance.now();
  const client = await slowClient(node.url);
  const closedIn = await Promise.race([client.closing.then(() => performance.now() - started), settle(5000).then(() => undefined)]);
  client.socket.destroy();
  t.ok(closedIn !== undefined && closedIn >= 900 && closedIn < 3500, `closed after ${closedIn?.toFixed(0)} ms: 1 s, then up to the 1 s check interval`);
});
