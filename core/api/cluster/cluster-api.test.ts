// Three real nodes in this process (sim engine) answering as one: the model lists of the whole
// cluster, show, copy, unload and delete on every holder, the cluster API, drains, and a name held
// with two digests.

import t from 'tap';
import type { TestNode } from '../../../conformance/fixtures/node.js';
import type { Consensus } from '../../contracts/consensus.js';
import type { Engine } from '../../contracts/engine.js';
import { FORWARDED_HEADER, REFUSED_HEADER } from '../forward/headers.js';
import { heldBy, MODELS_STAY, startCluster, until, view } from '../forward/test-cluster.js';
import { createTiny, getJson, post, postJson } from '../ollama/test-support.js';

const nodes = await startCluster(t, ['a', 'b', 'c'], MODELS_STAY);
const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
const SHORT = { num_predict: 2 };

const loadedOn = (node: TestNode) => node.node.component<Engine>('engine').loaded().map((m) => m.name);
const servedBy = async (node: TestNode, model: string) => (await post(node.url, '/api/generate', { model, prompt: 'hi', stream: false, options: SHORT })).headers.get('x-served-by');
/** A request marked as forwarded runs where it lands. */
const here = (node: TestNode, path: string, body: unknown) =>
  fetch(`${node.url}${path}`, { method: 'POST', headers: { [FORWARDED_HEADER]: 'test' }, body: JSON.stringify(body) });

await createTiny(a.url, 'shared');
await createTiny(b.url, 'shared');
await createTiny(c.url, 'only-c');
await heldBy(nodes, 'shared:latest', [a, b]);
await heldBy(nodes, 'only-c:latest', [c]);

t.test('/api/tags and /v1/models list each model of the cluster once, newest first', async (t) => {
  for (const node of nodes) {
    const tags = await getJson(node.url, '/api/tags');
    t.same(tags.models.map((m: { name: string }) => m.name), ['only-c:latest', 'shared:latest'], `on ${node.node.config.node.name}`);
  }
  const direct = await getJson(c.url, '/api/tags');
  const fromA = await getJson(a.url, '/api/tags');
  t.same(fromA.models[0], direct.models[0], "c's entry as c lists it");
  const models = await getJson(a.url, '/v1/models');
  t.same(models.data.map((m: { id: string }) => m.id), ['only-c:latest', 'shared:latest']);
  t.same(await getJson(a.url, '/v1/models/only-c'), await getJson(c.url, '/v1/models/only-c'), 'a model held elsewhere, as its holder shows it');
  const missing = await fetch(`${a.url}/v1/models/nowhere`);
  t.equal(missing.status, 404);
});

t.test('/api/show for a model held elsewhere is its holder’s answer', async (t) => {
  const fromA = await postJson(a.url, '/api/show', { model: 'only-c' });
  t.equal(fromA.status, 200);
  t.same(fromA.body, (await postJson(c.url, '/api/show', { model: 'only-c' })).body);
  t.same(await postJson(a.url, '/api/show', { model: 'nowhere' }), { status: 404, body: { error: "model 'nowhere' not found" } });
});

t.test('/api/ps lists every loaded model on every node, with the node', async (t) => {
  await (await here(c, '/api/generate', { model: 'only-c' })).text();
  await (await here(a, '/api/generate', { model: 'shared' })).text();
  await until(() => view(b).member(c.node.nodeId)!.loaded.length === 1 && view(b).member(a.node.nodeId)!.loaded.length === 1, 2000, 'the loads announced');
  const ps = await getJson(b.url, '/api/ps');
  t.same(ps.models.map((m: { name: string; node: string }) => [m.name, m.node]).sort(), [
    ['only-c:latest', 'c'],
    ['shared:latest', 'a'],
  ]);
  const onC = (list: { node: string }[]) => list.find((m) => m.node === 'c');
  t.same(onC(ps.models), onC((await getJson(c.url, '/api/ps')).models), "c's entry as c lists it");
});

t.test('unload (keep_alive 0) unloads the model on every node holding it', async (t) => {
  await (await here(a, '/api/generate', { model: 'shared' })).text();
  await (await here(b, '/api/generate', { model: 'shared' })).text();
  t.ok(loadedOn(a).includes('shared:latest') && loadedOn(b).includes('shared:latest'), 'loaded on a and b');
  const unloaded = await postJson(c.url, '/api/generate', { model: 'shared', keep_alive: 0 });
  t.equal(unloaded.status, 200);
  t.equal(unloaded.body.done_reason, 'unload');
  t.same([loadedOn(a).includes('shared:latest'), loadedOn(b).includes('shared:latest')], [false, false]);
  t.same(loadedOn(c), ['only-c:latest'], 'c kept its own');
});

t.test('copy and delete act on every node holding the model', async (t) => {
  const copied = await post(c.url, '/api/copy', { source: 'shared', destination: 'shared-copy' });
  t.equal(copied.status, 200);
  await heldBy(nodes, 'shared-copy:latest', [a, b]);
  const deleted = await post(a.url, '/api/delete', { model: 'shared-copy' }, 'DELETE');
  t.equal(deleted.status, 200);
  for (const node of [a, b]) t.notOk(view(node).self().models.some((m) => m.name === 'shared-copy:latest'), `gone from ${node.node.config.node.name}`);
  await until(() => view(c).holders('shared-copy:latest').length === 0, 1000, 'c hearing of it');
  const twice = await post(a.url, '/api/delete', { model: 'shared-copy' }, 'DELETE');
  t.equal(twice.status, 404);
  t.same(await twice.json(), { error: "model 'shared-copy' not found" });
});

t.test('the cluster status: this node, the leader, every member with its role, models and load', async (t) => {
  const health = await getJson(a.url, '/api/v1/health');
  // a formed the cluster; b and c are voters once the leader has promoted them.
  await until(async () => (await getJson(c.url, '/api/v1/cluster/status')).nodes.filter((n: { role: string }) => n.role === 'voter').length === 2, 10_000, 'b and c voting');
  const status = await getJson(a.url, '/api/v1/cluster/status');
  t.equal(status.node_id, health.node_id);
  t.equal(status.node_name, 'a');
  t.match(status.leader, { id: a.node.nodeId, name: 'a', term: Number });
  t.equal(status.term, status.leader.term);
  t.match(status.cluster_id, /^[0-9a-f-]{36}$/);
  t.equal(status.consensus, 'raft');
  t.equal(status.applied_index, a.node.component<Consensus>('consensus').state().index, "the index a has applied");
  t.ok(status.applied_index > 0, 'the promotions were applied');
  for (const other of [b, c]) {
    const seen = await getJson(other.url, '/api/v1/cluster/status');
    t.same([seen.leader, seen.cluster_id], [status.leader, status.cluster_id], 'every node names the same leader in the same cluster');
    t.equal(seen.applied_index, other.node.component<Consensus>('consensus').state().index, 'and the index it has applied');
  }
  t.same(status.conflicts, []);
  t.same(status.nodes.map((n: { name: string }) => n.name).sort(), ['a', 'b', 'c']);
  const entry = status.nodes.find((n: { name: string }) => n.name === 'c');
  t.match(entry, {
    id: c.node.nodeId,
    api_url: c.url,
    healthy: true,
    drained: false,
    self: false,
    engine: 'sim',
    models: ['only-c:latest'],
    load: { in_flight: 0, queued: 0, ttft_ms: Number, tokens_per_second: Number },
    last_seen: String,
    role: 'voter',
    cluster_id: status.cluster_id,
    routing: { routed: 0, failed: 0, last_routed_at: null, cooling_until: null },
  });
  t.equal(status.nodes.find((n: { name: string }) => n.name === 'a').role, 'leader');
  const { role: _, cluster_id: __, routing: ___, ...nodeEntry } = entry;
  t.same(await getJson(b.url, `/api/v1/nodes/${c.node.nodeId}`), { ...nodeEntry, last_seen: (await getJson(b.url, '/api/v1/nodes/c')).last_seen }, 'by id or name');
  t.same((await getJson(a.url, '/api/v1/nodes')).nodes.map((n: { id: string }) => n.id), status.nodes.map((n: { id: string }) => n.id));
  const missing = await fetch(`${a.url}/api/v1/nodes/zzz`);
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: "node 'zzz' not found" });
  t.equal((await fetch(`${a.url}/api/v1/nodes/zzz/drain`, { method: 'POST' })).status, 404);
});

t.test('a drained node takes nothing new within a second, on every node; undrained, it serves again', async (t) => {
  const response = await fetch(`${c.url}/api/v1/nodes/b/drain`, { method: 'POST' });
  t.equal(response.status, 200);
  t.match(await response.json(), { name: 'b', drained: true, self: true }, "b's own entry, drained");
  const spread = await until(() => nodes.every((n) => view(n).member(b.node.nodeId)!.drained), 1000, 'every node seeing b drained');
  t.ok(spread < 1000, `every node knew in ${Math.round(spread)} ms`);
  const served = [];
  for (let i = 0; i < 6; i++) served.push(await servedBy(c, 'shared'), await servedBy(b, 'shared'));
  t.same(new Set(served), new Set(['a']), 'new requests for shared, even those sent to b, run on a');

  const refused = await here(b, '/api/generate', { model: 'shared', prompt: 'hi', stream: false });
  t.equal(refused.status, 503, 'a forward reaching b after its drain is refused');
  t.equal(refused.headers.get(REFUSED_HEADER), 'drained');

  t.equal((await fetch(`${c.url}/api/v1/nodes/c/drain`, { method: 'POST' })).status, 200);
  await until(() => view(a).member(c.node.nodeId)!.drained, 1000, 'a seeing c drained');
  const onlyDrained = await postJson(a.url, '/api/generate', { model: 'only-c', prompt: 'hi', stream: false });
  t.same(onlyDrained, { status: 503, body: { error: "model 'only-c:latest' is held only by nodes that cannot take requests now: c (drained)" } });
  t.equal((await fetch(`${a.url}/api/v1/nodes/c/undrain`, { method: 'POST' })).status, 200);
  await until(() => nodes.every((n) => !view(n).member(c.node.nodeId)!.drained), 1000, 'every node seeing c undrained');

  t.equal((await fetch(`${a.url}/api/v1/nodes/b/undrain`, { method: 'POST' })).status, 200);
  await until(() => nodes.every((n) => !view(n).member(b.node.nodeId)!.drained), 1000, 'every node seeing b undrained');
  const after = [];
  for (let i = 0; i < 4; i++) after.push(await servedBy(c, 'shared'));
  t.ok(after.includes('b'), `b serves again: ${after.join(', ')}`);
});

t.test('a name held with two digests is flagged, and runs only where the newest is', async (t) => {
  await createTiny(b.url, 'dup');
  await createTiny(c.url, 'dup', { system: 'newer' });
  await until(() => view(a).conflicts().length === 1, 2000, 'a seeing the conflict');
  const status = await getJson(a.url, '/api/v1/cluster/status');
  t.equal(status.conflicts.length, 1);
  const [conflict] = status.conflicts;
  t.equal(conflict.name, 'dup:latest');
  t.same(conflict.digests.map((d: { nodes: string[] }) => d.nodes), [[c.node.nodeId], [b.node.nodeId]], 'newest first');
  const newest = view(c).self().models.find((m) => m.name === 'dup:latest')!.digest;
  t.equal(conflict.digests[0].digest, newest);
  const served = new Set();
  for (let i = 0; i < 4; i++) served.add(await servedBy(a, 'dup'));
  t.same(served, new Set(['c']));
});
