// How long a dead node stays in the routing pool: three sim nodes, a model on node-2 and node-3, a
// steady stream of requests (50 a second) through node-1 (which holds none, so each is forwarded); node-3 dies
// mid-stream, and node-1 is watched until it stops routing there. The goal is p2p.failure_timeout:
// a dead node out of the pool within 2 s. Two deaths: SIGKILL, whose sockets the kernel closes at
// once on loopback, and SIGSTOP, a hung node (or a lost link) whose connections stay open and say
// nothing, so only the failure timeout can notice it.
//
// node-1's GET /api/v1/cluster/status gives each node `routing: { routed, failed, last_routed_at,
// cooling_until }` where the build has it; without it the figures come from the client: the last
// answer node-3 served (X-Served-By) and the first status showing node-3 unhealthy.

import { pathToFileURL } from 'node:url';
import { startCluster, waitUntil, type Cluster } from '../conformance/fixtures/cluster.js';
import { createTiny } from '../core/api/ollama/test-support.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface FailoverOptions {
  /** Deaths of each kind; the median of each figure is reported. */
  trials?: number;
}

export type Death = 'SIGKILL' | 'SIGSTOP';
const DEATHS: Record<Death, string> = { SIGKILL: 'kill -9', SIGSTOP: 'kill -STOP (hung)' };

const FAILURE_TIMEOUT_MS = 2000;
/** Open loop: a request every 20 ms whatever is still in flight, so requests stuck on a hung node do not stop the stream. */
const SEND_EVERY_MS = 20;
const STEADY_MS = 1500;
/** How long the stream goes on after the kill, beyond the failure timeout. */
const AFTER_MS = 2000;
const POLL_MS = 20;
const DEADLINE_MS = 15_000;
/** Fast and wide (16 slots that do not slow each other), so the survivor drains a backlog of retries at once and a slow answer means one that waited on the dead node. */
const SIM_OPTIONS = { load_ms: 0, ttft_ms: 1, prompt_tokens_per_second: 100_000, tokens_per_second: 1000, parallel_slowdown: 0 };
const SLOTS = 16;
const BODY = JSON.stringify({ model: 'shared', prompt: 'hi', stream: false, keep_alive: -1, options: { num_predict: 8 } });
const DEAD = 2;
/** An answer this many times slower than the median before the death, and over DELAYED_MIN_MS, waited on the dead node. */
const DELAYED = 5;
const DELAYED_MIN_MS = 250;

/** The per-node routing figures node-1's cluster status carries where the build has them. */
export interface Routing {
  routed: number;
  failed: number;
  last_routed_at: string | null;
  cooling_until: string | null;
}

interface StatusNode {
  name: string;
  healthy: boolean;
  models: string[];
  routing?: Routing;
}

interface Answer {
  sentAt: number;
  doneAt: number;
  status: number;
  servedBy: string | null;
}

export interface Trial {
  /** ms from the kill until node-1's status showed the node unhealthy (or gone). */
  unhealthyMs: number;
  /** ms from the kill to the last request node-1 routed there (routing.last_routed_at); undefined without the routing field. */
  lastRoutedMs: number | undefined;
  /** ms from the kill to routing.cooling_until; undefined without it. */
  coolingMs: number | undefined;
  /** Requests node-1 routed to the dead node after the kill (routing.routed), undefined without the field. */
  routedAfterKill: number | undefined;
  /** ms from the kill to the end of the last answer the dead node served (client side, X-Served-By). */
  lastServedMs: number;
  /**
   * ms from the death to the sending of the last request that took over DELAYED× the median before:
   * one node-1 routed to the dead node and retried elsewhere (client side; a refused connection retries too fast to show).
   */
  lastDelayedSentMs: number | undefined;
  /** ms, the slowest answer to a request sent after the kill. */
  slowestAfterKillMs: number;
  /** ms, the median answer before the kill. */
  medianBeforeMs: number;
  failed: number;
  requests: number;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

async function statusNodes(cluster: Cluster): Promise<StatusNode[]> {
  return (await cluster.status(0)).nodes as unknown as StatusNode[];
}

async function trial(death: Death): Promise<Trial> {
  const cluster = await startCluster({
    size: 3,
    engine: 'sim',
    config: () => ({ p2p: { failure_timeout: `${FAILURE_TIMEOUT_MS}ms` }, engine: { num_parallel: SLOTS, options: SIM_OPTIONS } }),
  });
  try {
    await cluster.waitForMembers(3);
    const [entry, , dead] = cluster.nodes as [(typeof cluster.nodes)[0], unknown, (typeof cluster.nodes)[0]];
    for (const index of [1, 2]) await createTiny(cluster.nodes[index]!.apiUrl, 'shared');
    await waitUntil(async () => (await statusNodes(cluster)).filter((n) => n.models.includes('shared:latest')).length === 2 || undefined, {
      timeoutMs: 10_000,
      what: 'node-2 and node-3 announced as holders on node-1',
    });

    const answers: Answer[] = [];
    const inFlight = new Set<Promise<void>>();
    const send = async () => {
      const sentAt = Date.now();
      try {
        const response = await fetch(`${entry.apiUrl}/api/generate`, { method: 'POST', body: BODY, signal: AbortSignal.timeout(DEADLINE_MS) });
        await response.arrayBuffer();
        answers.push({ sentAt, doneAt: Date.now(), status: response.status, servedBy: response.headers.get('x-served-by') });
      } catch {
        answers.push({ sentAt, doneAt: Date.now(), status: 0, servedBy: null });
      }
    };
    const sender = setInterval(() => {
      const request = send();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }, SEND_EVERY_MS);
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
    const routedBefore = (await statusNodes(cluster)).find((n) => n.name === dead.name)?.routing?.routed;
    const killedAt = Date.now();
    if (death === 'SIGKILL') await cluster.kill(DEAD, 'SIGKILL');
    else process.kill(dead.pid!, 'SIGSTOP');
    let unhealthyAt: number;
    try {
      unhealthyAt = await waitUntil(
        async () => {
          const node = (await statusNodes(cluster)).find((n) => n.name === dead.name);
          return !node || !node.healthy ? Date.now() : undefined;
        },
        { timeoutMs: DEADLINE_MS, what: `${dead.name} shown unhealthy on node-1`, intervalMs: POLL_MS },
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, killedAt + FAILURE_TIMEOUT_MS + AFTER_MS - Date.now())));
    } finally {
      clearInterval(sender);
      await Promise.all(inFlight);
    }
    const routing = (await statusNodes(cluster)).find((n) => n.name === dead.name)?.routing;
    const since = (iso: string | null | undefined) => (iso ? Date.parse(iso) - killedAt : undefined);
    const before = answers.filter((a) => a.doneAt < killedAt && a.status === 200);
    const after = answers.filter((a) => a.sentAt >= killedAt);
    const servedByDead = answers.filter((a) => a.servedBy === dead.name);
    const medianBeforeMs = median(before.map((a) => a.doneAt - a.sentAt));
    const delayed = after.filter((a) => a.doneAt - a.sentAt > Math.max(DELAYED * medianBeforeMs, DELAYED_MIN_MS));
    return {
      unhealthyMs: unhealthyAt - killedAt,
      lastRoutedMs: since(routing?.last_routed_at),
      coolingMs: since(routing?.cooling_until),
      routedAfterKill: routing && routedBefore !== undefined ? routing.routed - routedBefore : undefined,
      lastServedMs: Math.max(...servedByDead.map((a) => a.doneAt)) - killedAt,
      lastDelayedSentMs: delayed.length > 0 ? Math.max(...delayed.map((a) => a.sentAt)) - killedAt : undefined,
      slowestAfterKillMs: Math.max(...after.map((a) => a.doneAt - a.sentAt)),
      medianBeforeMs,
      failed: answers.filter((a) => a.status !== 200).length,
      requests: answers.length,
    };
  } finally {
    if (death === 'SIGSTOP') await cluster.kill(DEAD, 'SIGKILL');
    await cluster.stop();
  }
}

export function rows(death: Death, trials: readonly Trial[]): BenchmarkRow[] {
  const kill = DEATHS[death];
  const of = (pick: (t: Trial) => number | undefined) => {
    const values = trials.map(pick).filter((v): v is number => v !== undefined);
    return values.length === trials.length ? median(values) : undefined;
  };
  const goal = (name: string, value: number): BenchmarkRow => ({
    name: `${kill}: ${name}, median of ${trials.length}`,
    value,
    unit: 'ms',
    baseline: FAILURE_TIMEOUT_MS,
    baselineName: 'p2p.failure_timeout (goal)',
    ratio: value / FAILURE_TIMEOUT_MS,
    better: 'lower',
  });
  const out: BenchmarkRow[] = [];
  const lastRouted = of((t) => t.lastRoutedMs);
  if (lastRouted !== undefined) out.push(goal('until node-1 last routed a request to it (routing.last_routed_at)', lastRouted));
  else {
    out.push(goal('until the last answer it served reached the client (X-Served-By; no routing field in this build)', of((t) => t.lastServedMs)!));
    const delayed = of((t) => t.lastDelayedSentMs);
    if (delayed !== undefined) out.push(goal(`until the last request sent that waited on it (answered over ${DELAYED}× slower and over ${DELAYED_MIN_MS} ms; client side)`, delayed));
  }
  out.push(goal("until node-1's cluster status shows it unhealthy", of((t) => t.unhealthyMs)!));
  const cooling = of((t) => t.coolingMs);
  if (cooling !== undefined) out.push(goal('until its cooling ends (routing.cooling_until)', cooling));
  const routedAfter = of((t) => t.routedAfterKill);
  if (routedAfter !== undefined) {
    out.push({ name: `${kill}: requests node-1 routed to the dead holder after it died, median of ${trials.length}`, value: routedAfter, unit: 'requests', baseline: 0, baselineName: 'none', ratio: routedAfter === 0 ? 1 : Infinity, better: 'lower' });
  }
  const failed = trials.reduce((sum, t) => sum + t.failed, 0);
  const requests = trials.reduce((sum, t) => sum + t.requests, 0);
  out.push({ name: `${kill}: requests failed across ${trials.length} deaths`, value: failed, unit: 'requests', baseline: requests, baselineName: 'requests sent', ratio: failed / requests, better: 'lower' });
  const slowest = of((t) => t.slowestAfterKillMs)!;
  const before = of((t) => t.medianBeforeMs)!;
  out.push({ name: `${kill}: slowest answer to a request sent after the death, median of ${trials.length}`, value: slowest, unit: 'ms', baseline: before, baselineName: 'median answer before', ratio: slowest / before, better: 'lower' });
  return out;
}

export async function run(options: FailoverOptions = {}): Promise<BenchmarkRow[]> {
  const out: BenchmarkRow[] = [];
  for (const death of Object.keys(DEATHS) as Death[]) {
    const trials: Trial[] = [];
    for (let i = 0; i < (options.trials ?? 3); i++) trials.push(await trial(death));
    out.push(...rows(death, trials));
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
