// Runs each abuse case as a tap subtest with the suite's invariants around it: the node stays up,
// /api/version answers within 100 ms throughout, its RSS stays under a bound, nothing lands outside.

import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { startControlServer, type ControlServer } from './control-server.js';
import { jsonOf, send, type Reply } from './raw-http.js';
import { describeLatency, peakRss, resetPeakRss, slowestExcess, watchLatency } from './watch.js';

/** How fast a node under attack must still answer GET /api/version. */
export const LATENCY_LIMIT_MS = 100;
const DEFAULT_LIMIT_MS = 20_000;
const UP_CHECK_MS = 2_000;

/** A node the suite can look at from this machine, beyond its URL. */
export interface WatchedNode {
  url: string;
  pid(): number | undefined;
  /** Peak RSS allowed while any case runs. */
  rssLimitBytes: number;
  /** What lies outside its data dir, compared before and after each case. */
  outside(): string[];
  /** Times the kernel killed something in its memory cgroup, for the message when it dies. */
  oomKills(): number;
  /** Kills it by pid and starts it again on the same data dir and URL. */
  restart(): Promise<void>;
}

export interface VariantNode extends WatchedNode {
  dispose(): Promise<void>;
}

export interface LocalNode extends WatchedNode {
  /** Its store in Ollama's layout: manifests/ and blobs/. */
  modelDir: string;
  dataDir: string;
  /** A second node with other OLLAMA_* settings, for cases no request can set up. */
  startVariant(env: Record<string, string>): Promise<VariantNode>;
  /** Runs a CLI command on its data dir; for stop and start cases. */
  cli(args: string[], timeoutMs?: number): { status: number | null; stdout: string; stderr: string };
  /** Waits up to `ms` for the node to exit on its own. */
  exitsWithin(ms: number): Promise<boolean>;
  /** SIGKILLs it by pid, as a crash would end it. */
  kill(): Promise<void>;
}

export interface AbuseTarget {
  url: string;
  /** The tiny model, there already: it generates and embeds. */
  model: string;
  /** The target's OLLAMA_MAX_QUEUE and OLLAMA_NUM_PARALLEL, which the queue case fills. */
  maxQueue: number;
  numParallel: number;
  /** Ollama checks Host only when it listens on loopback. */
  loopbackListener: boolean;
  /** Present when the node runs on this machine under the suite's control. */
  node?: LocalNode;
}

export interface AbuseHooks {
  setup(): Promise<AbuseTarget>;
  teardown?(): Promise<void>;
}

export interface AttackContext {
  target: AbuseTarget;
  /** The node under attack: the target's, or the variant the case asked for. */
  url: string;
  signal: AbortSignal;
  /** A model name of this run's own, deleted at the end. */
  scratch(suffix: string): string;
}

export interface AttackOptions<P> {
  limitMs?: number;
  /** Why this target cannot run the case, when it cannot: a stated skip. */
  unsupported?(target: AbuseTarget): string | undefined;
  /** Work before the watch starts (building a 30 MB body), so its cost is not the node's. */
  prepare?(target: AbuseTarget): P | Promise<P>;
  /** Settings for a node of the case's own, started for it and disposed of after. */
  variant?: Record<string, string>;
}

type Body<P> = (t: Test, context: AttackContext, prepared: P) => Promise<void>;

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
const deadline = (ms: number, signal: AbortSignal) =>
  new Promise<never>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error(`the attack ran past ${ms / 1000} s`)), { once: true }));

async function answers(url: string): Promise<boolean> {
  try {
    return (await send(url, '/api/version', { method: 'GET', signal: AbortSignal.timeout(UP_CHECK_MS) })).status === 200;
  } catch {
    return false;
  }
}

export class AbuseRun {
  private target: AbuseTarget | undefined;
  private control: ControlServer | undefined;
  readonly prefix = `abuse-${randomBytes(3).toString('hex')}`;

  constructor(private readonly t: Test, hooks: AbuseHooks) {
    t.before(async () => {
      this.control = await startControlServer();
      this.target = await hooks.setup();
    });
    t.teardown(async () => {
      if (this.target) await this.removeScratch(this.target.url);
      await hooks.teardown?.();
      await this.control?.close();
    });
  }

  private async removeScratch(url: string): Promise<void> {
    const tags = jsonOf(await send(url, '/api/tags', { method: 'GET' }).catch(() => ({ status: 0, headers: {}, text: '' })));
    for (const { name } of (tags?.models ?? []) as { name: string }[]) {
      if (name.startsWith(this.prefix)) await send(url, '/api/delete', { method: 'DELETE', body: { model: name } }).catch(() => undefined);
    }
  }

  attack<P = undefined>(name: string, options: AttackOptions<P>, body: Body<P>): void {
    this.t.test(name, async (t) => {
      const target = this.target!;
      const reason = options.unsupported?.(target);
      if (reason) return void t.plan(0, reason);
      const prepared = (await options.prepare?.(target)) as P;
      const variant = options.variant && target.node ? await target.node.startVariant(options.variant) : undefined;
      t.teardown(() => variant?.dispose());
      const node: WatchedNode | undefined = variant ?? target.node;
      const url = node?.url ?? target.url;
      if (node && (node.pid() === undefined || !(await answers(url)))) await node.restart();
      await this.run(t, { target, url, node, options, prepared, body });
    });
  }

  private async run<P>(t: Test, run: { target: AbuseTarget; url: string; node: WatchedNode | undefined; options: AttackOptions<P>; prepared: P; body: Body<P> }) {
    const { url, node } = run;
    const limitMs = run.options.limitMs ?? DEFAULT_LIMIT_MS;
    const outsideBefore = node?.outside();
    const pidBefore = node?.pid();
    if (pidBefore !== undefined) resetPeakRss(pidBefore);
    const oomBefore = node?.oomKills() ?? 0;
    const watch = await watchLatency(url, this.control!.url);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limitMs);
    const context: AttackContext = { target: run.target, url, signal: controller.signal, scratch: (suffix) => `${this.prefix}-${suffix}` };
    try {
      await Promise.race([run.body(t, context, run.prepared), deadline(limitMs, controller.signal)]);
    } catch (error) {
      t.fail(`the attack's requests complete: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    const latency = await watch.stop();

    const pid = node?.pid();
    const up = (node === undefined || pid === pidBefore) && (await answers(url));
    const ooms = (node?.oomKills() ?? 0) - oomBefore;
    t.ok(up, `the node stays up and answers /api/version${ooms > 0 ? ` (the OOM killer acted ${ooms} times in its cgroup)` : ''}`);
    const fast = latency.failures.length === 0 && slowestExcess(latency) < LATENCY_LIMIT_MS;
    t.ok(fast, `/api/version answers within ${LATENCY_LIMIT_MS} ms (over an idle server's time) throughout: ${describeLatency(latency)}`);
    let small = true;
    if (node && pid !== undefined) {
      const peak = peakRss(pid) ?? 0;
      small = peak < node.rssLimitBytes;
      t.ok(small, `peak RSS ${mib(peak)} stays under ${mib(node.rssLimitBytes)}`);
    }
    if (node && outsideBefore) t.same(node.outside(), outsideBefore, 'nothing is written outside the data dir');
    // A node left broken would fail every later case for this one's sake: start it afresh.
    if (node && node === run.target.node && !(up && fast && small)) await node.restart();
  }
}

/** The empty-bodied 403 that Ollama's CORS and Host checks answer with. */
export function forbiddenEmpty(t: Test, reply: Reply, what: string): void {
  t.equal(reply.status, 403, `${what}: 403`);
  t.equal(reply.text, '', `${what}: an empty body, as Ollama answers`);
}

/** Ollama's refusal: the status and `{"error": message}`, the message naming the problem if asked. */
export function refused(t: Test, reply: Reply, status: number, what: string, names?: RegExp): void {
  t.equal(reply.status, status, `${what}: ${status}${reply.status === status ? '' : ` (got ${reply.status}: ${reply.text.slice(0, 200)})`}`);
  const body = jsonOf(reply);
  const shaped = body !== null && typeof body === 'object' && Object.keys(body).join() === 'error' && typeof body.error === 'string' && body.error !== '';
  t.ok(shaped, `${what}: the body is {"error": "..."}`);
  if (names && shaped) t.match(body.error, names, `${what}: the error names the problem (${JSON.stringify(body.error)})`);
}

/** Served, or refused as Ollama refuses (a 4xx with {"error"}): never a 5xx. */
export function servedOrRefused(t: Test, reply: Reply, what: string): void {
  if (reply.status >= 200 && reply.status < 300) return void t.pass(`${what}: served (${reply.status})`);
  if (reply.status >= 400 && reply.status < 500) return refused(t, reply, reply.status, what);
  t.fail(`${what}: served or refused with a 4xx, got ${reply.status}: ${reply.text.slice(0, 200)}`);
}
