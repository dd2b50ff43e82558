// The balancers on a heterogeneous simulated cluster: three node processes on the sim engine with a
// fast, a medium and a slow GPU node, one replayed workload (benchmarks/workload.ts) through the
// entry node per balancer, the cluster started afresh for each. Measured on the client: time to
// first token, generated tokens per second, time spent evaluating prompts (what the prompt cache saves),
// failures and where requests ran; round_robin is the baseline.

import { setMaxListeners } from 'node:events';
import { pathToFileURL } from 'node:url';
import { startCluster, waitUntil, type Cluster } from '../conformance/fixtures/cluster.js';
import { createTiny } from '../core/api/ollama/test-support.js';
import { formatRow, type BenchmarkRow } from './row.js';
import { generateWorkload, requestFor, type TimedRequest, type Workload, type WorkloadOptions } from './workload.js';

export const ALGORITHMS = ['round_robin', 'least_connections', 'random', 'adaptive', 'affinity'] as const;

const GiB = 2 ** 30;

/** The nodes: node-1 fast (2 GPUs, 4 slots), node-2 medium (2 slots), node-3 slow (1 slot, 8 GiB). */
export const NODES = [
  { role: 'fast', num_parallel: 4, options: { tokens_per_second: 150, prompt_tokens_per_second: 8000, load_ms: 300, gpus: 2, vram_bytes: 24 * GiB } },
  { role: 'medium', num_parallel: 2, options: { tokens_per_second: 80, prompt_tokens_per_second: 4000, load_ms: 600, gpus: 1, vram_bytes: 24 * GiB } },
  { role: 'slow', num_parallel: 1, options: { tokens_per_second: 40, prompt_tokens_per_second: 2000, load_ms: 1200, gpus: 1, vram_bytes: 8 * GiB } },
] as const;

/** Which nodes hold which model: `chat` everywhere, `code` only on the medium and slow nodes. */
const PLACEMENT: Record<string, number[]> = { chat: [0, 1, 2], code: [1, 2] };

/**
 * 30 users over ~20 s (1 a second, 5 a second in 2 s bursts every 8 s), ~65 requests, ~2k
 * generated tokens, ~100k prompt tokens: one balancer's run takes ~20-40 s on 2 cores.
 */
export const WORKLOAD: WorkloadOptions = {
  seed: 7,
  chatUsers: 18,
  oneShotUsers: 12,
  turns: { min: 2, max: 4 },
  systemPrompts: 3,
  systemPromptWords: { min: 1000, max: 2000 },
  userMessageWords: { min: 8, max: 60 },
  answerTokens: { min: 16, max: 48 },
  thinkMs: { min: 300, max: 1500 },
  arrivalsPerSecond: 1,
  bursts: { everyMs: 8000, lengthMs: 2000, factor: 5 },
  chatModels: ['chat'],
  oneShotModels: ['chat', 'code'],
  numCtx: 8192,
};

const REQUEST_TIMEOUT_MS = 120_000;
const UNKNOWN_BALANCER = /scheduler\.algorithm = "[^"]*": unknown balancer plugin/;

export interface SimClusterOptions {
  algorithms?: readonly string[];
  workload?: Partial<WorkloadOptions>;
  /** Send every user through node-1 (default), or spread users over all nodes. */
  entries?: 'first' | 'all';
}

export interface Outcome {
  user: string;
  turn: number;
  sentAt: number;
  /** ms from send to the first chunk with text; undefined when none came. */
  firstTokenMs: number | undefined;
  doneAt: number;
  evalCount: number;
  /** prompt_eval_duration in ms: only the part of the prompt not found in a slot's cache costs time. */
  promptEvalMs: number;
  servedBy: string | null;
  error: string | undefined;
  answer: string;
}

export interface RunFigures {
  algorithm: string;
  ttftMeanMs: number;
  ttftP99Ms: number;
  tokensPerSecond: number;
  promptEvalSeconds: number;
  failed: number;
  requests: number;
  wallMs: number;
  /** Share of answered requests each node served, by node name. */
  servedShare: Record<string, number>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Sends one streamed request and reads its NDJSON: the first line with text is the first token. */
export async function send(apiUrl: string, request: TimedRequest, origin: number, signal: AbortSignal): Promise<Outcome> {
  const sentAt = performance.now() - origin;
  const outcome: Outcome = { user: request.user, turn: request.turn, sentAt, firstTokenMs: undefined, doneAt: sentAt, evalCount: 0, promptEvalMs: 0, servedBy: null, error: undefined, answer: '' };
  try {
    const response = await fetch(`${apiUrl}${request.path}`, { method: 'POST', body: JSON.stringify(request.body), signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
    outcome.servedBy = response.headers.get('x-served-by');
    if (!response.ok || !response.body) throw new Error(`${request.path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
    const decoder = new TextDecoder();
    let buffered = '';
    let done = false;
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as { response?: string; message?: { content?: string }; error?: string; done?: boolean; eval_count?: number; prompt_eval_duration?: number };
        buffered = buffered.slice(newline + 1);
        if (line.error) throw new Error(`${request.path} failed mid-stream: ${line.error}`);
        const text = line.message?.content ?? line.response ?? '';
        if (text !== '' && outcome.firstTokenMs === undefined) outcome.firstTokenMs = performance.now() - origin - sentAt;
        outcome.answer += text;
        if (line.done) {
          done = true;
          outcome.evalCount = line.eval_count ?? 0;
          outcome.promptEvalMs = (line.prompt_eval_duration ?? 0) / 1e6;
        }
      }
    }
    if (!done) throw new Error(`${request.path} ended without a done line`);
  } catch (error) {
    outcome.error = (error as Error).message;
  }
  outcome.doneAt = performance.now() - origin;
  return outcome;
}

/** Plays every user's script against the entries: a chat's next turn waits for the previous answer. */
export async function replay(workload: Workload, entry: (user: number) => string, signal: AbortSignal): Promise<{ outcomes: Outcome[]; wallMs: number }> {
  const origin = performance.now();
  const outcomes: Outcome[] = [];
  await Promise.all(
    workload.scripts.map(async (script, index) => {
      const answers: string[] = [];
      let lastAnswerAt = 0;
      for (let turn = 0; turn < script.turns.length && !signal.aborted; turn++) {
        const request = requestFor(workload, script, turn, answers, lastAnswerAt);
        await sleep(request.at - (performance.now() - origin), signal);
        const outcome = await send(entry(index), request, origin, signal);
        outcomes.push(outcome);
        if (outcome.error) return;
        answers.push(outcome.answer);
        lastAnswerAt = outcome.doneAt;
      }
    }),
  );
  return { outcomes, wallMs: performance.now() - origin };
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

export function figures(algorithm: string, outcomes: readonly Outcome[], wallMs: number): RunFigures {
  const answered = outcomes.filter((o) => !o.error);
  const ttfts = answered.map((o) => o.firstTokenMs).filter((ms): ms is number => ms !== undefined);
  const servedShare: Record<string, number> = {};
  for (const o of answered) servedShare[o.servedBy ?? 'unknown'] = (servedShare[o.servedBy ?? 'unknown'] ?? 0) + 1 / answered.length;
  return {
    algorithm,
    ttftMeanMs: ttfts.reduce((sum, ms) => sum + ms, 0) / ttfts.length,
    ttftP99Ms: quantile(ttfts, 0.99),
    tokensPerSecond: answered.reduce((sum, o) => sum + o.evalCount, 0) / (wallMs / 1000),
    promptEvalSeconds: answered.reduce((sum, o) => sum + o.promptEvalMs, 0) / 1000,
    failed: outcomes.length - answered.length,
    requests: outcomes.length,
    wallMs,
    servedShare,
  };
}

async function startSimCluster(algorithm: string): Promise<Cluster> {
  const cluster = await startCluster({
    size: NODES.length,
    engine: 'sim',
    config: (index) => ({ scheduler: { algorithm }, engine: { num_parallel: NODES[index]!.num_parallel, options: NODES[index]!.options } }),
  });
  try {
    await cluster.waitForMembers(NODES.length);
    for (const [model, holders] of Object.entries(PLACEMENT)) for (const index of holders) await createTiny(cluster.nodes[index]!.apiUrl, model);
    await waitUntil(
      async () => {
        const status = (await cluster.status(0)) as unknown as { nodes: { name: string; models: string[] }[]; conflicts: unknown[] };
        const placed = Object.entries(PLACEMENT).every(([model, holders]) => status.nodes.filter((n) => n.models.includes(`${model}:latest`)).length === holders.length);
        return (placed && status.conflicts.length === 0) || undefined;
      },
      { timeoutMs: 10_000, what: `every model announced on node-1 at ${JSON.stringify(PLACEMENT)}` },
    );
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** One balancer's run, or the reason it cannot run in this build. */
export async function runAlgorithm(algorithm: string, workload: Workload, entries: 'first' | 'all'): Promise<RunFigures | { unavailable: string }> {
  let cluster: Cluster;
  try {
    cluster = await startSimCluster(algorithm);
  } catch (error) {
    const unknown = (error as Error).message.match(UNKNOWN_BALANCER);
    if (unknown) return { unavailable: unknown[0] };
    throw error;
  }
  try {
    const entry = (user: number) => cluster.nodes[entries === 'all' ? user % cluster.nodes.length : 0]!.apiUrl;
    const stop = new AbortController();
    // Every request listens on this one signal.
    setMaxListeners(0, stop.signal);
    const { outcomes, wallMs } = await replay(workload, entry, stop.signal);
    return figures(algorithm, outcomes, wallMs);
  } finally {
    await cluster.stop();
  }
}

function ratio(value: number, baseline: number): number {
  if (baseline === 0) return value === 0 ? 1 : Infinity;
  return value / baseline;
}

export function rows(runs: readonly RunFigures[]): BenchmarkRow[] {
  const baseline = runs.find((r) => r.algorithm === 'round_robin');
  if (!baseline) throw new Error('sim-cluster needs the round_robin run as its baseline');
  const out: BenchmarkRow[] = [];
  for (const run of runs) {
    const row = (name: string, unit: string, pick: (r: RunFigures) => number, better: 'higher' | 'lower'): BenchmarkRow => ({
      name: `${run.algorithm}: ${name}`,
      value: pick(run),
      unit,
      baseline: pick(baseline),
      baselineName: 'round_robin',
      ratio: ratio(pick(run), pick(baseline)),
      better,
    });
    out.push(
      row('time to first token, mean', 'ms', (r) => r.ttftMeanMs, 'lower'),
      row('time to first token, p99', 'ms', (r) => r.ttftP99Ms, 'lower'),
      row('generated tokens/s (eval_count over wall time)', 'tokens/s', (r) => r.tokensPerSecond, 'higher'),
      row('prompt evaluation, summed over requests (prompt_eval_duration)', 's', (r) => r.promptEvalSeconds, 'lower'),
      row('workload wall time', 's', (r) => r.wallMs / 1000, 'lower'),
      row(`requests failed (of ${run.requests})`, 'requests', (r) => r.failed, 'lower'),
      ...NODES.map((node, index) => row(`share served by node-${index + 1} (${node.role})`, '%', (r) => 100 * (r.servedShare[`node-${index + 1}`] ?? 0), 'higher')),
    );
  }
  return out;
}

export async function run(options: SimClusterOptions = {}): Promise<BenchmarkRow[]> {
  const workload = generateWorkload({ ...WORKLOAD, ...options.workload });
  const requests = workload.scripts.reduce((sum, s) => sum + s.turns.length, 0);
  console.log(`workload: seed ${WORKLOAD.seed}, ${workload.scripts.length} users, ${requests} requests, entries ${options.entries ?? 'first'}; nodes ${NODES.map((n, i) => `node-${i + 1} ${n.role}`).join(', ')}`);
  const runs: RunFigures[] = [];
  for (const algorithm of options.algorithms ?? ALGORITHMS) {
    const result = await runAlgorithm(algorithm, workload, options.entries ?? 'first');
    if ('unavailable' in result) console.log(`${algorithm}: not available in this build (${result.unavailable})`);
    else runs.push(result);
  }
  return rows(runs);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const algorithms = process.argv.slice(2);
  for (const row of await run(algorithms.length > 0 ? { algorithms: ['round_robin', ...algorithms.filter((a) => a !== 'round_robin')] } : {})) console.log(formatRow(row));
}
