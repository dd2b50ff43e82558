// Scheduling across real node processes: where 200 requests run under each balancer (counted by
// X-Served-By), that chats stay on the node caching them under affinity, that a drained node gets
// none, and the cluster-wide queue under 600 requests.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { parse, stringify } from 'yaml';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';

const KEY = randomBytes(32).toString('base64url');
const QUEUE_FULL = 'server busy, please try again.  maximum pending requests exceeded';

function generate(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/generate`, { method: 'POST', headers, body: JSON.stringify({ model: 'shared', prompt: 'hi', ...body }), signal: AbortSignal.timeout(60_000) });
}

async function holdersSeen(cluster: Cluster, index: number, count: number): Promise<void> {
  await waitUntil(
    async () => {
      const status = (await cluster.status(index)) as unknown as { nodes: { models: string[]; healthy: boolean; drained: boolean }[]; conflicts: unknown[] };
      const holders = status.nodes.filter((n) => n.healthy && !n.drained && n.models.includes('shared:latest'));
      return (holders.length === count && status.conflicts.length === 0) || undefined;
    },
    { timeoutMs: 10_000, what: `${count} undrained holders of shared:latest seen by node-${index + 1}` },
  );
}

/** Sends `total` requests through `url`, `concurrency` at a time; counts by node name where each ran. */
async function spread(url: string, total: number, concurrency: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent += 1;
      const response = await generate(url, { stream: false, options: { num_predict: 2 } });
      if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
      const by = response.headers.get('x-served-by') ?? 'none';
      counts[by] = (counts[by] ?? 0) + 1;
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

/** `count` chats at once, each `turns` turns behind its own long system prompt; per chat, the node of each turn. */
async function conversations(url: string, count: number, turns: number): Promise<string[][]> {
  return Promise.all(
    Array.from({ length: count }, async (_, chat) => {
      const messages: { role: string; content: string }[] = [{ role: 'system', content: `You are assistant ${chat}. `.repeat(60) }];
      const servedBy: string[] = [];
      for (let turn = 0; turn < turns; turn++) {
        messages.push({ role: 'user', content: `question ${turn} of chat ${chat}` });
        const response = await fetch(`${url}/api/chat`, {
          method: 'POST',
          body: JSON.stringify({ model: 'shared', messages, stream: false, options: { num_predict: 4 } }),
          signal: AbortSignal.timeout(60_000),
        });
        if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
        servedBy.push(response.headers.get('x-served-by') ?? 'none');
        messages.push(((await response.json()) as { message: { role: string; content: string } }).message);
      }
      return servedBy;
    }),
  );
}

async function restartWith(cluster: Cluster, index: number, algorithm: string): Promise<void> {
  const node = cluster.nodes[index];
  const config = parse(readFileSync(node.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  config.scheduler = { ...config.scheduler, algorithm };
  writeFileSync(node.configFile, stringify(config));
  await cluster.restart(index);
  await cluster.waitForMembers(3);
  await holdersSeen(cluster, index, 3);
}

t.test('200 requests on three nodes spread as each balancer promises; a drained node receives none', async (t) => {
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    clusterKey: KEY,
    t,
    config: () => ({ engine: { num_parallel: 4, options: { tokens_per_second: 2000, ttft_ms: 1 } } }),
  });
  await cluster.waitForMembers(3);
  for (const node of cluster.nodes) await createTiny(node.apiUrl, 'shared');
  await holdersSeen(cluster, 0, 3);
  const entry = cluster.nodes[0].apiUrl;
  const names = ['node-1', 'node-2', 'node-3'];

  const roundRobin = await spread(entry, 200, 1);
  t.same(names.map((n) => roundRobin[n]).sort(), [66, 67, 67], `round_robin takes the nodes in turn: ${JSON.stringify(roundRobin)}`);

  await restartWith(cluster, 0, 'least_connections');
  const least = await spread(entry, 200, 6);
  t.same(Object.keys(least).sort(), names, `least_connections: ${JSON.stringify(least)}`);
  // Six at a time: each goes to a node with the fewest running, so every node takes a share (node-1,
  // which also forwards them all, is the slowest and takes the least); one at a time would all go to one.
  for (const name of names) t.ok(least[name]! >= 20, `least_connections gave ${name} ${least[name]}`);
  // The announcements of the six-at-a-time run say nodes are busy for up to a second after it.
  await waitUntil(
    async () => {
      const status = (await cluster.status(0)) as unknown as { nodes: { load: { in_flight: number; queued: number } }[] };
      return status.nodes.every((n) => n.load.in_flight + n.load.queued === 0) || undefined;
    },
    { timeoutMs: 10_000, what: 'every node announcing itself idle' },
  );
  const lone = await spread(entry, 30, 1);
  t.equal(Object.keys(lone).length, 1, `one at a time, every request finds the same node idlest: ${JSON.stringify(lone)}`);

  await restartWith(cluster, 0, 'random');
  const random = await spread(entry, 200, 1);
  // Uniform over three: each count is Binomial(200, 1/3), mean 66.7, sd 6.7; these bounds are 4 sd.
  for (const name of names) t.ok(random[name]! >= 40 && random[name]! <= 94, `random gave ${name} ${random[name]}`);

  await restartWith(cluster, 0, 'affinity');
  const chats = await conversations(entry, 6, 4);
  const homes = chats.map((servedBy) => servedBy[0]!);
  for (const [i, servedBy] of chats.entries()) t.same(new Set(servedBy), new Set([homes[i]]), `affinity keeps chat ${i} on the node caching it: ${servedBy.join(' ')}`);
  t.ok(new Set(homes).size >= 2, `the chats' first turns spread by load: ${homes.join(' ')}`);

  await restartWith(cluster, 0, 'round_robin');
  const drained = await fetch(`${entry}/api/v1/nodes/node-3/drain`, { method: 'POST' });
  t.equal(drained.status, 200);
  await holdersSeen(cluster, 0, 2);
  const afterDrain = await spread(entry, 200, 4);
  t.equal(afterDrain['node-3'], undefined, `the drained node received none: ${JSON.stringify(afterDrain)}`);
  t.same([afterDrain['node-1'], afterDrain['node-2']], [100, 100], 'the other two share them in turn');
});

t.test('600 requests while every slot is busy: past queue_size they get Ollama\'s 503; the rest start in arrival order', async (t) => {
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    clusterKey: KEY,
    t,
    config: () => ({ scheduler: { queue_size: 100 }, engine: { num_parallel: 2, options: { tokens_per_second: 50, ttft_ms: 1, response_tokens: 1000 } } }),
  });
  await cluster.waitForMembers(3);
  const [entry, b, c] = cluster.nodes;
  await createTiny(b.apiUrl, 'shared');
  await createTiny(c.apiUrl, 'shared');
  await holdersSeen(cluster, 0, 2);
  // Load it on both, so that their slots, not a load, are what the queue waits for.
  await Promise.all([generate(b.apiUrl, { stream: false, options: { num_predict: 1 } }), generate(c.apiUrl, { stream: false, options: { num_predict: 1 } })].map(async (r) => (await r).arrayBuffer()));

  // Four long runs (60 s) fill the four slots (two nodes, two each) until the whole burst has
  // arrived; then their clients hang up, which frees the slots for the queue.
  const hangUp = new AbortController();
  const blockers = Array.from({ length: 4 }, () =>
    fetch(`${entry.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'shared', prompt: 'hi', stream: true, options: { num_predict: 3000 } }), signal: hangUp.signal })
      .then(async (r) => {
        await r.text();
        return 'finished';
      })
      .catch(() => 'cut'),
  );
  await waitUntil(
    async () => {
      const status = (await cluster.status(0)) as unknown as { nodes: { name: string; routing: { routed: number } }[] };
      return status.nodes.reduce((sum, n) => sum + n.routing.routed, 0) === 4 || undefined;
    },
    { timeoutMs: 5000, what: 'the four long runs routed' },
  );
  let refusedSoFar = 0;
  const burst = Promise.all(
    Array.from({ length: 600 }, async (_, i) => {
      const response = await generate(entry.apiUrl, { prompt: `request ${i}`, stream: true, options: { num_predict: 5 } }, { 'x-request-id': `client-${i}` });
      const startedAt = performance.now();
      if (response.status === 503) refusedSoFar += 1;
      const text = await response.text();
      return { status: response.status, position: Number(response.headers.get('x-queue-position') ?? 0), startedAt, text };
    }),
  );
  type Waiting = { id: string; model: string; kind: string; position: number; waited_ms: number };
  const waiting = await waitUntil(
    async () => {
      const queue = (await (await fetch(`${entry.apiUrl}/api/v1/queue`)).json()) as { waiting: Waiting[] };
      if (refusedSoFar < 500) throw new Error(`${refusedSoFar} refused, ${queue.waiting.length} waiting`);
      return queue.waiting.length === 100 ? queue.waiting : undefined;
    },
    { timeoutMs: 30_000, what: '500 refused and 100 requests waiting' },
  );
  t.same(waiting.map((w) => w.position), Array.from({ length: 100 }, (_, i) => i + 1), 'GET /api/v1/queue lists them next first');
  t.ok(waiting.every((w) => /^client-\d+$/.test(w.id) && w.model === 'shared:latest' && w.kind === 'generate'), 'under the ids the clients gave');
  hangUp.abort();
  t.same(await Promise.all(blockers), ['cut', 'cut', 'cut', 'cut'], 'the long runs end when their clients hang up');
  const answers = await burst;
  const refused = answers.filter((a) => a.status === 503);
  const served = answers.filter((a) => a.status === 200);
  t.equal(refused.length, 500, 'all but the 100 that fit the queue are refused');
  t.same([...new Set(refused.map((a) => JSON.parse(a.text).error))], [QUEUE_FULL], "with Ollama's words");
  t.equal(served.length, 100);
  t.same(served.map((a) => a.position).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i + 1), 'each waited with its own place');
  t.same(served.filter((a) => !a.text.trim().endsWith('"done":true}') && !/"done":true,/.test(a.text.trim().split('\n').at(-1)!)).length, 0, 'every admitted stream ends with done: true');
  // Four start together whenever the four slots free up (each run ~110 ms): order is kept to within a round.
  const byPlace = [...served].sort((x, y) => x.position - y.position);
  const late = byPlace.filter((a, i) => i > 0 && a.startedAt + 50 < byPlace[i - 1]!.startedAt);
  t.same(late.map((a) => a.position), [], 'no request started a round before one that arrived earlier');
  const queue = (await (await fetch(`${entry.apiUrl}/api/v1/queue`)).json()) as { queue_size: number; waiting: unknown[] };
  t.same(queue, { queue_size: 100, waiting: [] }, 'the queue is empty afterwards');
});
