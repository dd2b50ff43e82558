// Failover mid-stream across real node processes: node-1 forwards 50 streams of a model only node-2
// and node-3 hold; node-2 is killed with SIGKILL while they run; every stream still ends with its
// final line, counts covering the whole answer, and node-1 sends the dead node nothing after 2 s.
// When the last holder dies too, a stream ends with an Ollama error line.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { startCluster, waitUntil, type Cluster } from '../fixtures/cluster.js';

const KEY = randomBytes(32).toString('base64url');
const STREAMS = 50;
/** Of them, OpenAI SSE streams (chat completions and completions in turn); round_robin puts some on each holder. */
const SSE_STREAMS = 4;
/** 20 tokens a second for 80 tokens: each stream runs 4 s, the kill lands early in it. */
const TOKENS_PER_SECOND = 20;
const NUM_PREDICT = 80;
const QUIET_AFTER_KILL_MS = 2000;
/** Native streams go chat, chat, generate, generate, ...: node-1 takes turns between two holders, so each gets both kinds. */
const isGenerate = (i: number) => i % 4 >= 2;
const PROBE_FOR_MS = 3000;

interface StreamLog {
  /** Every parsed line the client received. */
  lines: Record<string, unknown>[];
  /** When each line came, ms since the epoch. */
  at: number[];
  servedBy: string | null;
  status: number;
}

type Routing = { name: string; healthy: boolean; models: string[]; routing: { routed: number; last_routed_at: string | null } };

async function nodesSeenBy(cluster: Cluster, index: number): Promise<Routing[]> {
  return ((await cluster.status(index)) as unknown as { nodes: Routing[] }).nodes;
}

/** Reads a native NDJSON stream line by line into `log`, so the test can watch it as it grows. */
async function nativeStream(url: string, path: string, body: Record<string, unknown>, log: StreamLog): Promise<void> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  log.status = response.status;
  log.servedBy = response.headers.get('x-served-by');
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let at = rest.indexOf('\n'); at >= 0; at = rest.indexOf('\n')) {
      const line = rest.slice(0, at);
      rest = rest.slice(at + 1);
      if (line.trim() === '') continue;
      log.lines.push(JSON.parse(line) as Record<string, unknown>);
      log.at.push(Date.now());
    }
  }
  if (rest.trim() !== '') log.lines.push({ incomplete: rest });
}

/** Reads an OpenAI SSE stream's data payloads into `log.lines` ([DONE] as { done: true }). */
async function sseStream(url: string, path: string, body: Record<string, unknown>, log: StreamLog): Promise<void> {
  const response = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  log.status = response.status;
  log.servedBy = response.headers.get('x-served-by');
  let rest = '';
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    rest += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let at = rest.indexOf('\n\n'); at >= 0; at = rest.indexOf('\n\n')) {
      const event = rest.slice(0, at);
      rest = rest.slice(at + 2);
      const data = event.slice('data: '.length);
      log.lines.push(data === '[DONE]' ? { done: true } : (JSON.parse(data) as Record<string, unknown>));
      log.at.push(Date.now());
    }
  }
  if (rest.trim() !== '') log.lines.push({ incomplete: rest });
}

t.test('SIGKILL of a holder during 50 forwarded streams: each goes on on the other holder, unbroken, and the dead node gets nothing after 2 s; with no holder left a stream ends with an error line', async (t) => {
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    clusterKey: KEY,
    t,
    // The holders stay the two the test made: no placement copies the model to node-1 once one dies.
    config: () => ({ distribution: { default_replicas: 0 }, engine: { num_parallel: 64, options: { tokens_per_second: TOKENS_PER_SECOND, ttft_ms: 1, parallel_slowdown: 0, response_tokens: 1000 } } }),
  });
  await cluster.waitForMembers(3);
  const [entry, doomed, survivor] = cluster.nodes;
  await createTiny(doomed.apiUrl, 'shared');
  await createTiny(survivor.apiUrl, 'shared');
  await waitUntil(async () => (await nodesSeenBy(cluster, 0)).filter((n) => n.healthy && n.models.includes('shared:latest')).length === 2 || undefined, {
    timeoutMs: 10_000,
    what: 'node-1 seeing both holders of shared:latest',
  });

  const all: StreamLog[] = Array.from({ length: STREAMS }, () => ({ lines: [], at: [], servedBy: null, status: 0 }));
  const openai = all.slice(0, SSE_STREAMS);
  const native = all.slice(SSE_STREAMS);
  const sse = { model: 'shared', stream: true, stream_options: { include_usage: true }, max_tokens: NUM_PREDICT };
  const runs = [
    ...openai.map((log, i) =>
      i % 2 === 0
        ? sseStream(entry.apiUrl, '/v1/chat/completions', { ...sse, messages: [{ role: 'user', content: `openai chat ${i}` }] }, log)
        : sseStream(entry.apiUrl, '/v1/completions', { ...sse, prompt: `openai completion ${i}` }, log),
    ),
    ...native.map((log, i) =>
      !isGenerate(i)
        ? nativeStream(entry.apiUrl, '/api/chat', { model: 'shared', messages: [{ role: 'user', content: `chat ${i}` }], options: { num_predict: NUM_PREDICT } }, log)
        : nativeStream(entry.apiUrl, '/api/generate', { model: 'shared', prompt: `generate ${i}`, options: { num_predict: NUM_PREDICT } }, log),
    ),
  ].map((run) => run.catch((error: Error) => error));

  // Mid-way: every stream has chunks, none has ended, and the doomed node serves some of them.
  await waitUntil(() => all.every((log) => log.lines.length >= 3) || undefined, { timeoutMs: 10_000, what: 'every stream receiving chunks' });
  const onDoomed = all.filter((log) => log.servedBy === doomed.name);
  t.ok(onDoomed.length > 0, `node-2 serves ${onDoomed.length} of the streams when it is killed`);
  t.ok(openai.some((log) => log.servedBy === doomed.name), 'an OpenAI stream among them');
  const chunksAtKill = onDoomed.map((log) => log.lines.length);
  await cluster.kill(doomed.index, 'SIGKILL');
  const killedAt = Date.now();

  // Requests keep coming after the kill; none may reach the dead node once 2 s have passed.
  const probes: { at: number; servedBy: string | null; status: number }[] = [];
  while (Date.now() - killedAt < PROBE_FOR_MS) {
    const at = Date.now();
    const response = await fetch(`${entry.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'shared', prompt: 'probe', stream: false, options: { num_predict: 1 } }) });
    probes.push({ at, servedBy: response.headers.get('x-served-by'), status: response.status });
    await response.arrayBuffer();
  }
  const failures = (await Promise.all(runs)).filter((r) => r instanceof Error);
  t.same(failures.map(String), [], 'no client saw its stream fail');

  t.ok(onDoomed.every((log, i) => log.lines.length > chunksAtKill[i]!), 'every stream of the dead node received more after the kill');
  const resumedIn = onDoomed.map((log) => (log.at.find((at) => at > killedAt) ?? Infinity) - killedAt).sort((a, b) => a - b);
  t.comment(`the ${onDoomed.length} streams of node-2 went on ${resumedIn[0]}..${resumedIn.at(-1)} ms after the kill (median ${resumedIn[resumedIn.length >> 1]} ms)`);
  for (const [i, log] of native.entries()) {
    const last = log.lines.at(-1) ?? {};
    const chunks = log.lines.filter((line) => line.done === false);
    t.equal(log.status, 200, `stream ${i}: 200`);
    t.same(log.lines.filter((line) => line.error !== undefined || line.incomplete !== undefined), [], `stream ${i}: no error line, no broken line`);
    t.equal(last.done, true, `stream ${i} (${log.servedBy}) ends with its final line`);
    t.equal(last.eval_count, chunks.length, `stream ${i}: eval_count ${String(last.eval_count)} covers the ${chunks.length} chunks the client received`);
    t.equal(chunks.length, NUM_PREDICT, `stream ${i}: the answer has the ${NUM_PREDICT} tokens asked for, no more`);
  }
  // The sim's words follow from the prompt: a generate taken up from its text so far must go on
  // exactly as the same request run whole on the node that is left.
  const continuedGenerates = native.map((log, i) => ({ log, i })).filter(({ log, i }) => isGenerate(i) && log.servedBy === doomed.name);
  t.ok(continuedGenerates.length > 0, `${continuedGenerates.length} generate streams went on after the kill`);
  for (const { log, i } of continuedGenerates) {
    const whole = await fetch(`${survivor.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'shared', prompt: `generate ${i}`, stream: false, options: { num_predict: NUM_PREDICT } }) });
    const expected = ((await whole.json()) as { response: string }).response;
    t.equal(log.lines.map((line) => line.response ?? '').join(''), expected, `generate stream ${i}: the text is the uninterrupted run's`);
  }
  for (const [i, log] of openai.entries()) {
    const events = log.lines;
    const usage = events.find((e) => e.usage !== undefined)?.usage as { completion_tokens: number } | undefined;
    const tokens = events.filter((e) => Array.isArray(e.choices) && (e.choices as { finish_reason: unknown }[])[0]?.finish_reason === null);
    t.equal(log.status, 200, `OpenAI stream ${i}: 200`);
    t.same(events.filter((e) => e.error !== undefined || e.incomplete !== undefined), [], `OpenAI stream ${i}: no error frame, no broken frame`);
    t.same(events.at(-1), { done: true }, `OpenAI stream ${i} (${log.servedBy}) ends with [DONE]`);
    t.equal(new Set(events.filter((e) => e.id !== undefined).map((e) => `${e.id} ${e.created}`)).size, 1, `OpenAI stream ${i}: one id and created throughout`);
    t.equal(usage?.completion_tokens, tokens.length, `OpenAI stream ${i}: usage counts the ${tokens.length} token chunks the client received`);
    t.equal(tokens.length, NUM_PREDICT, `OpenAI stream ${i}: the ${NUM_PREDICT} tokens asked for, no more`);
  }

  const late = probes.filter((p) => p.at > killedAt + QUIET_AFTER_KILL_MS);
  t.ok(late.length > 0, `${late.length} requests came in after kill + 2 s`);
  t.same(late.filter((p) => p.status !== 200 || p.servedBy !== survivor.name), [], 'node-3 served every one of them');
  const seen = (await nodesSeenBy(cluster, 0)).find((n) => n.name === doomed.name);
  const lastRouted = seen?.routing.last_routed_at ? Date.parse(seen.routing.last_routed_at) : 0;
  t.ok(lastRouted <= killedAt + QUIET_AFTER_KILL_MS, `node-1 last routed to node-2 ${lastRouted - killedAt} ms after the kill`);

  // The last holder dies mid-stream: the client's stream ends at once with an error line, never hangs.
  const orphan: StreamLog = { lines: [], at: [], servedBy: null, status: 0 };
  const run = nativeStream(entry.apiUrl, '/api/generate', { model: 'shared', prompt: 'last', options: { num_predict: NUM_PREDICT } }, orphan);
  await waitUntil(() => orphan.lines.length >= 3 || undefined, { timeoutMs: 5000, what: 'the last stream receiving chunks' });
  const lastKilledAt = Date.now();
  await cluster.kill(survivor.index, 'SIGKILL');
  await run;
  t.ok(Date.now() - lastKilledAt < 5000, `it ended ${Date.now() - lastKilledAt} ms after the kill`);
  t.same(orphan.lines.filter((line) => line.done === true || line.incomplete !== undefined), [], 'no final line, no broken line');
  t.match(orphan.lines.at(-1), { error: /^no node holding model 'shared:latest' could serve the request: .*node-3 \(its stream broke mid-answer\)/ }, 'its last line is an Ollama error line naming the node that failed');
});
