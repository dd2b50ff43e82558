// Three real nodes in this process (sim engine), a model on one of them: the others forward to it
// over HTTP and over libp2p streams. What the client gets matches what the holder serves directly,
// streamed as it comes; aborts reach the holder; a holder that died before answering is replaced.

import { Ollama } from 'ollama';
import t from 'tap';
import type { TestNode } from '../../../conformance/fixtures/node.js';
import type { Engine } from '../../contracts/engine.js';
import { ProductError } from '../../errors.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import { createTiny, post } from '../ollama/test-support.js';
import type { ApiServer } from '../server.js';
import { FORWARDED_HEADER } from './headers.js';
import { heldBy, MODELS_STAY, startCluster, until, view } from './test-cluster.js';

const SHORT = { num_predict: 4 };
/** Fields that say when or how long, which two runs of one request never share. */
const TIMING = /^(created_at|created|id|.*_duration)$/;

function untimed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(untimed);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, TIMING.test(key) ? typeof v : untimed(v)]));
}

/** Parsed NDJSON lines or SSE data frames, each with its keys in order and timing values replaced by their type. */
function frames(text: string, sse: boolean): unknown[] {
  const lines = text.split('\n').filter((line) => line !== '');
  return lines.map((line) => {
    const data = sse ? line.replace(/^data: /, '') : line;
    return data === '[DONE]' ? data : untimed(JSON.parse(data));
  });
}

async function answer(response: Response) {
  return { status: response.status, servedBy: response.headers.get('x-served-by'), type: response.headers.get('content-type'), body: Buffer.from(await response.arrayBuffer()) };
}

const running = (node: TestNode) => node.node.component<Engine>('engine').loaded().reduce((sum, m) => sum + m.activeRequests, 0);

for (const mode of ['http', 'libp2p']) {
  t.test(`forwarding over ${mode}`, async (t) => {
    const nodes = await startCluster(t, ['a', 'b', 'c'], { OLLAMA_P2P_FORWARD: mode, ...MODELS_STAY });
    const [a, , c] = nodes as [TestNode, TestNode, TestNode];
    await createTiny(c.url, 'tiny');
    await heldBy(nodes, 'tiny:latest', [c]);
    // Loaded, and the prompt cached, so the direct and the forwarded run do the same work.
    await (await post(c.url, '/api/generate', { model: 'tiny', prompt: 'hello there', stream: false, options: SHORT })).text();

    t.test('answers without timing fields are the bytes the holder sends directly', async (t) => {
      for (const [path, body] of [
        ['/api/embeddings', { model: 'tiny', prompt: 'hello there' }],
        ['/api/show', { model: 'tiny' }],
      ] as const) {
        const direct = await answer(await post(c.url, path, body));
        const forwarded = await answer(await post(a.url, path, body));
        t.equal(direct.status, 200, path);
        t.same(forwarded, { ...direct, servedBy: path === '/api/show' ? null : 'c' }, `${path}: same status, type and bytes`);
      }
    });

    t.test('a run is the holder’s: same fields in the same order and the same values but for timings', async (t) => {
      const cases = [
        { path: '/api/generate', body: { model: 'tiny', prompt: 'hello there', stream: false, options: SHORT }, sse: false },
        { path: '/api/generate', body: { model: 'tiny', prompt: 'hello there', options: SHORT }, sse: false },
        { path: '/api/chat', body: { model: 'tiny', messages: [{ role: 'user', content: 'hello there' }], options: SHORT }, sse: false },
        { path: '/api/embed', body: { model: 'tiny', input: ['one', 'two'] }, sse: false },
        { path: '/v1/chat/completions', body: { model: 'tiny', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4, stream: true }, sse: true },
        { path: '/v1/completions', body: { model: 'tiny', prompt: 'hello there', max_tokens: 4 }, sse: false },
      ];
      for (const { path, body, sse } of cases) {
        const direct = await answer(await post(c.url, path, body));
        const forwarded = await answer(await post(a.url, path, body));
        const label = `${path}${(body as { stream?: boolean }).stream === false ? ' not streamed' : ''}`;
        t.equal(direct.status, 200, label);
        t.match(forwarded, { status: 200, servedBy: 'c', type: direct.type }, label);
        const directFrames = frames(direct.body.toString(), sse);
        t.ok(directFrames.length >= 1, `${label}: ${directFrames.length} frames`);
        t.same(frames(forwarded.body.toString(), sse), directFrames, `${label}: the same frames`);
      }
    });

    t.test('a request is routed once, where it is served and where it is forwarded from', async (t) => {
      const routes = { a: 0, c: 0 };
      for (const [name, node] of [['a', a], ['c', c]] as const) {
        node.node.component<Scheduler>('scheduler').hooks.afterRoute.tap('count', () => void (routes[name] += 1));
      }
      await (await post(c.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: SHORT })).text();
      t.same(routes, { a: 0, c: 1 }, 'served where it arrived: one route');
      await (await post(a.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: SHORT })).text();
      t.same(routes, { a: 1, c: 2 }, 'forwarded: one route on each node');
      await until(() => a.node.component<Scheduler>('scheduler').pending + c.node.component<Scheduler>('scheduler').pending === 0, 500, 'every route finished');
    });

    t.test("beforeForward taps see each forward: one may add a header the holder gets, or refuse it", async (t) => {
      const api = (node: TestNode) => node.node.component<ApiServer>('api');
      const heard: unknown[] = [];
      const targets: string[] = [];
      // Taps stay for the node's life: they act only during this test.
      let active = true;
      t.teardown(() => void (active = false));
      api(c).hooks.authorize.tapPromise('test', async (request) => void (active && heard.push(request.headers['x-tenant'])));
      let veto: Error | undefined;
      api(a).hooks.beforeForward.tapPromise('test', async (request, nodeId) => {
        if (!active) return;
        targets.push(nodeId);
        if (veto) throw veto;
        request.headers['x-tenant'] = 'blue';
      });
      const passed = await post(a.url, '/api/embeddings', { model: 'tiny', prompt: 'hi' });
      t.equal(passed.status, 200);
      t.same(heard, ['blue']);
      veto = new ProductError('OD_ERR_FORBIDDEN', 'forwarding to c is not allowed');
      const refused = await post(a.url, '/api/embeddings', { model: 'tiny', prompt: 'hi' });
      t.equal(refused.status, 403);
      t.same(await refused.json(), { error: 'forwarding to c is not allowed' });
      t.same(heard, ['blue'], 'nothing reached c');
      t.equal(a.node.component<Scheduler>('scheduler').pending, 0, 'the refused route was finished');
      t.same(targets, [c.node.nodeId, c.node.nodeId]);
    });

    t.test('a forwarded request is never forwarded again', async (t) => {
      const response = await fetch(`${a.url}/api/generate`, { method: 'POST', headers: { [FORWARDED_HEADER]: 'some-node' }, body: JSON.stringify({ model: 'tiny', prompt: 'hi' }) });
      t.equal(response.status, 404, 'a has no tiny, and does not send it on to c');
      t.same(await response.json(), { error: "model 'tiny' not found" });
      t.equal(response.headers.get('x-served-by'), 'a');
    });

    t.test('a request for a model no node holds is the 404 a lone node gives', async (t) => {
      const response = await post(a.url, '/api/generate', { model: 'nowhere', prompt: 'hi' });
      t.equal(response.status, 404);
      t.same(await response.json(), { error: "model 'nowhere' not found" });
      t.equal(response.headers.get('x-served-by'), 'a');
    });

    t.test('the official ollama client, streaming and not', async (t) => {
      const client = new Ollama({ host: a.url });
      const whole = await client.generate({ model: 'tiny', prompt: 'hello there', options: SHORT });
      const direct = await new Ollama({ host: c.url }).generate({ model: 'tiny', prompt: 'hello there', options: SHORT });
      t.equal(whole.response, direct.response);
      t.equal(whole.eval_count, 4);
      const parts: string[] = [];
      for await (const part of await client.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: true, options: SHORT })) parts.push(part.message.content);
      t.equal(parts.length, 5, 'four tokens and the final chunk');
      t.equal(parts.at(-1), '');
      const embedded = await client.embed({ model: 'tiny', input: 'hi' });
      t.equal(embedded.embeddings.length, 1);
    });

    t.test('chunks reach the client as the holder writes them, not at the end', async (t) => {
      // The sim engine decodes 50 tokens a second: 20 ms between chunks.
      const response = await post(a.url, '/api/generate', { model: 'tiny', prompt: 'hello there', options: { num_predict: 10 } });
      const arrivals: number[] = [];
      for await (const _chunk of response.body!) arrivals.push(performance.now());
      const spread = arrivals.at(-1)! - arrivals[0]!;
      t.ok(arrivals.length >= 5 && spread >= 120, `${arrivals.length} reads over ${Math.round(spread)} ms`);
    });

    t.test('a client that leaves stops the run on the holder', async (t) => {
      const controller = new AbortController();
      const started = performance.now();
      const response = await fetch(`${a.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'a long one' }), signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read();
      t.equal(running(c), 1, 'the run is under way on c');
      controller.abort();
      const stopped = await until(() => running(c) === 0, 500, 'the run on c ending');
      // Left alone it would write 64 tokens at 50 a second, ending 1.3 s after it began.
      t.ok(performance.now() - started < 1000, `stopped ${Math.round(stopped)} ms after the abort, before the run would have ended`);
      await until(() => a.node.component<Scheduler>('scheduler').pending === 0, 500, "a's route finished");
    });
  });

  t.test(`over ${mode}, a holder that died before answering is replaced by another`, async (t) => {
    const nodes = await startCluster(t, ['a', 'b', 'c'], { OLLAMA_P2P_FORWARD: mode, ...MODELS_STAY });
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    const digest = await createTiny(b.url, 'tiny');
    await createTiny(c.url, 'tiny');
    t.ok(digest);
    await heldBy(nodes, 'tiny:latest', [b, c]);
    const picks: string[] = [];
    a.node.component<Scheduler>('scheduler').hooks.afterRoute.tap('test', (_request, candidate) => void picks.push(candidate.nodeId));
    // c's API goes away while its view still announces it: the others learn nothing before they try.
    await c.node.component<ApiServer>('api').stop();
    t.ok(view(a).member(c.node.nodeId)!.healthy, 'a still counts c in');
    for (let i = 0; i < 4; i++) {
      const response = await post(a.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false, options: SHORT });
      t.equal(response.status, 200, (await response.text()).slice(0, 80));
      t.equal(response.headers.get('x-served-by'), 'b');
    }
    const cId = c.node.nodeId;
    const bId = b.node.nodeId;
    t.ok(picks.includes(cId), 'the balancer chose c');
    t.same(picks.flatMap((pick, i) => (pick === cId ? [picks[i + 1]] : [])), picks.filter((p) => p === cId).map(() => bId), 'each request routed to c went to b next');

    await b.node.component<ApiServer>('api').stop();
    const started = performance.now();
    const failed = await post(a.url, '/api/generate', { model: 'tiny', prompt: 'hi', stream: false });
    t.equal(failed.status, 502);
    const { error } = (await failed.json()) as { error: string };
    t.match(error, /^no node holding model 'tiny:latest' could serve the request: [bc] \(.+\), [bc] \(.+\)$/);
    t.ok(performance.now() - started < 1000, 'answered at once, no hang');
  });
}
