// Real nodes in this process, joined over libp2p on loopback: membership, what each announces,
// goodbyes, dropped connections and a node name already taken.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { startTestNode, type TestNode } from '../../conformance/fixtures/node.js';
import { createTiny, getJson, postJson } from '../api/ollama/test-support.js';
import type { Engine } from '../contracts/engine.js';
import type { Transport } from '../contracts/transport.js';
import { PRODUCT_VERSION } from '../version.js';
import { encodeAnnouncement } from './announcement.js';
import { ANNOUNCE_TOPIC, type ClusterView, type Member } from './types.js';

const view = (node: TestNode) => node.node.component<ClusterView>('cluster');
const transport = (node: TestNode) => node.node.component<Transport>('transport');
const memberOf = (node: TestNode, of: TestNode) => view(node).member(of.node.nodeId);

/** Resolves with the ms it took until `condition` held, checked every 10 ms; `seen` describes a failure. */
async function until(condition: () => boolean, withinMs: number, what: string, seen?: () => unknown): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > withinMs) throw new Error(`not within ${withinMs} ms: ${what}${seen ? ` (seen: ${JSON.stringify(seen())})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function startCluster(t: Test, names: string[], env: Record<string, string> = {}) {
  const first = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: names[0]!, ...env } });
  t.teardown(() => first.stop());
  const bootstrap = transport(first).addresses()[0]!;
  const launched = performance.now();
  const rest = await Promise.all(
    names.slice(1).map(async (name) => {
      const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: name, OLLAMA_P2P_BOOTSTRAP: bootstrap, ...env } });
      t.teardown(() => node.stop());
      return node;
    }),
  );
  return { nodes: [first, ...rest], bootstrap, launched };
}

const allHealthy = (nodes: TestNode[]) => nodes.every((n) => view(n).members().filter((m) => m.healthy).length === nodes.length);

t.test('three nodes see each other healthy within 5 s, each announcing what its own API shows', async (t) => {
  const { nodes, launched } = await startCluster(t, ['a', 'b', 'c']);
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
  await until(() => allHealthy(nodes), 5000 - (performance.now() - launched), 'three healthy members on every node');
  t.ok(performance.now() - launched < 5000, `joined in ${Math.round(performance.now() - launched)} ms`);

  const health = await getJson(c.url, '/api/v1/health');
  const seen = memberOf(a, c)!;
  t.match(seen, {
    protocol: 1,
    id: health.node_id,
    peerId: transport(c).peerId,
    name: 'c',
    apiUrl: c.url,
    version: PRODUCT_VERSION,
    engine: 'sim',
    drained: false,
    healthy: true,
    self: false,
  });
  const engineGpus = await c.node.component<Engine>('engine').gpus();
  t.same(seen.gpus, engineGpus.map(({ name, backend, vramTotal, vramFree }) => ({ name, backend, vramTotal, vramFree })), "the engine's GPUs");
  t.same(view(a).self().id, a.node.nodeId);
  t.equal(view(a).self().healthy, true);

  await createTiny(c.url, 'tiny');
  t.same(view(c).self().models.map((m) => m.name), ['tiny:latest'], 'a create returns once the view of its own node holds the model');
  const tags = await getJson(c.url, '/api/tags');
  const spread = await until(() => memberOf(a, c)!.models.length === 1 && memberOf(b, c)!.models.length === 1, 400, 'the new model reaching a and b');
  t.ok(spread < 400, `announced at once, not on the next round (${Math.round(spread)} ms)`);
  t.same(memberOf(a, c)!.models, tags.models, "c's models as c's /api/tags lists them");
  t.same(view(a).holders('tiny:latest').map((m) => m.id), [c.node.nodeId], 'only c holds tiny');
  t.same(view(a).holders('tiny'), [], 'holders takes the full name:tag');

  const run = await postJson(c.url, '/api/generate', { model: 'tiny', prompt: 'hello there', stream: false, options: { num_predict: 8 } });
  t.equal(run.status, 200);
  const ps = await getJson(c.url, '/api/ps');
  t.equal(ps.models.length, 1);
  // /api/ps names the node each model runs on, which an announcement of one node leaves out.
  for (const model of ps.models) delete model.node;
  // The load at once, its expiry (extended when the run ended) on the next round: 3 s leaves a
  // loaded machine two more.
  await until(() => JSON.stringify(memberOf(a, c)!.loaded) === JSON.stringify(ps.models), 3000, "c's /api/ps reaching a");
  const tokensPerSecond = run.body.eval_count / 10;
  await until(() => memberOf(a, c)!.load.tokensPerSecond === tokensPerSecond, 3000, "c's load after the run reaching a", () => ({
    announced: memberOf(a, c)!.load,
    evalCount: run.body.eval_count,
  }));
  const load = memberOf(a, c)!.load;
  t.ok(load.ttftMs > 0 && load.ttftMs < run.body.total_duration / 1e6, `time to first token ${load.ttftMs} ms, within the run`);
  t.match(load, { inFlight: 0, queued: 0 }, 'nothing runs after the run');

  await view(b).setDrained(true);
  t.equal(view(b).self().drained, true);
  await until(() => memberOf(a, b)!.drained && memberOf(c, b)!.drained, 400, 'the drain flag reaching a and c');
  await view(b).setDrained(false);
  await until(() => !memberOf(a, b)!.drained, 400, 'the undrain reaching a');
});

t.test('a node that stops cleanly leaves the others at once', async (t) => {
  const { nodes } = await startCluster(t, ['a', 'b', 'c']);
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
  await until(() => allHealthy(nodes), 5000, 'three healthy members');
  const stopped = performance.now();
  await c.stop();
  const seenAt = await until(() => !memberOf(a, c)!.healthy && !memberOf(b, c)!.healthy, 500, 'c unhealthy on a and b');
  t.ok(performance.now() - stopped < 1000, `gone from both views ${Math.round(seenAt)} ms after its stop returned, well under failure_timeout`);
  t.equal(memberOf(a, c)!.leaving, true, 'a heard the goodbye');
  t.equal(memberOf(b, c)!.leaving, true, 'b heard the goodbye');
  t.equal(view(a).members().filter((m: Member) => m.healthy).length, 2);
});

t.test('a stopping node leaves the pool before its API drains what it runs', async (t) => {
  const { nodes } = await startCluster(t, ['a', 'c']);
  const [a, c] = nodes as [TestNode, TestNode];
  await createTiny(c.url, 'tiny');
  await until(() => allHealthy(nodes) && view(a).holders('tiny:latest').length === 1, 5000, 'c holding tiny, seen from a');
  // The sim engine makes 50 tokens a second: this run lasts about 4 s.
  const response = await fetch(`${c.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'hi', options: { num_predict: 200 } }) });
  const reader = response.body!.getReader();
  await reader.read();
  const stopping = c.stop();
  await until(() => !memberOf(a, c)!.healthy, 500, 'c out of the pool while its run goes on');
  t.same(view(a).holders('tiny:latest'), [], 'no longer a holder');
  let text = '';
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  await stopping;
  t.match(text.trim().split('\n').at(-1), /"done":true/, 'the run under way finished');
});

t.test('a node whose connection drops leaves at once and returns when it speaks again', async (t) => {
  const { nodes } = await startCluster(t, ['a', 'b']);
  const [a, b] = nodes as [TestNode, TestNode];
  await until(() => allHealthy(nodes), 5000, 'two healthy members');
  let unhealthyAt: number | undefined;
  const off = view(a).onChange(() => {
    if (!memberOf(a, b)!.healthy) unhealthyAt ??= performance.now();
  });
  t.teardown(off);
  const cut = performance.now();
  await transport(a).hangUp(transport(b).peerId);
  await until(() => unhealthyAt !== undefined, 500, 'b unhealthy on a');
  t.ok(unhealthyAt! - cut < 500, `unhealthy ${Math.round(unhealthyAt! - cut)} ms after the hang-up`);
  await until(() => memberOf(a, b)!.healthy, 8000, 'b healthy again once it reconnects and speaks');
  t.pass('healthy again');
});

t.test('a node whose name is taken is refused at join; the node holding the name logs the refusal', async (t) => {
  const owner = capturingLogger();
  const first = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'gpu-1' }, logger: owner.logger });
  t.teardown(() => first.stop());
  const bootstrap = transport(first).addresses()[0]!;
  const other = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'gpu-2', OLLAMA_P2P_BOOTSTRAP: bootstrap } });
  t.teardown(() => other.stop());
  await until(() => allHealthy([first, other]), 5000, 'two healthy members');

  const started = performance.now();
  const refused = startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'gpu-1', OLLAMA_P2P_BOOTSTRAP: bootstrap } });
  await t.rejects(refused, {
    message: new RegExp(`node name 'gpu-1' is already taken by node ${first.node.nodeId} at ${first.url}; choose another with --node-name or OLLAMA_NODE_NAME`),
  });
  t.ok(performance.now() - started < 5000, `refused within ${Math.round(performance.now() - started)} ms`);
  const refusal = owner.lines.find((line) => /^refused node .* the node name 'gpu-1' is this node's, which joined first$/.test(String(line.msg)));
  t.ok(refusal, 'the node holding the name logs the refusal');
  t.equal(view(first).self().nameTakenBy, undefined, 'the older node keeps its name');
  const refusedMember = () => view(other).members().find((m) => m.name === 'gpu-1' && m.id !== first.node.nodeId);
  t.ok(refusedMember(), 'gpu-2 heard the refused node');
  t.equal(refusedMember()?.nameTakenBy, first.node.nodeId, 'and flagged it');
  await until(() => refusedMember()?.leaving === true && !refusedMember()?.healthy, 500, 'the refused node gone at once, by its goodbye');
  t.equal(view(other).member('gpu-1')?.id, first.node.nodeId, 'the name still finds the older node');
});

t.test("a peer's message in another protocol is refused with one log line; garbage is dropped with a rate-limited warning", async (t) => {
  const watcher = capturingLogger();
  const first = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'watcher' }, logger: watcher.logger });
  t.teardown(() => first.stop());
  const sender = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_NODE_NAME: 'sender', OLLAMA_P2P_BOOTSTRAP: transport(first).addresses()[0]! } });
  t.teardown(() => sender.stop());
  await until(() => allHealthy([first, sender]), 5000, 'two healthy members');
  const before = memberOf(first, sender)!;
  const peerId = transport(sender).peerId;
  const future = { ...view(sender).self(), protocol: 2, seq: before.seq + 1000, drained: true };
  for (let i = 0; i < 3; i++) {
    await transport(sender).publish(ANNOUNCE_TOPIC, encodeAnnouncement({ ...future, seq: future.seq + i }));
    await transport(sender).publish(ANNOUNCE_TOPIC, new TextEncoder().encode(`{"protocol":1,"id":${i}}`));
  }
  const refusals = () => watcher.lines.filter((line) => line.peer === peerId && /speaks cluster protocol 2/.test(String(line.msg)));
  const drops = () => watcher.lines.filter((line) => line.peer === peerId && /^dropped an announcement/.test(String(line.msg)));
  await until(() => refusals().length > 0 && drops().length > 0, 1000, 'the refusal and the drop logged');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(refusals().length, 1, 'one line per peer for another protocol');
  t.match(refusals()[0], { level: 50, msg: `refusing peer ${peerId}: it speaks cluster protocol 2 and this node speaks 1; upgrade the nodes to versions that speak one protocol` });
  t.equal(drops().length, 1, 'three invalid messages, one warning');
  t.match(drops()[0], { level: 40, dropped: 1, msg: `dropped an announcement from peer ${peerId}: id is not a string` });
  t.equal(memberOf(first, sender)!.drained, false, 'nothing of the refused messages was taken in');
  t.ok(memberOf(first, sender)!.healthy, 'the sender stays a member on its own protocol');
});
