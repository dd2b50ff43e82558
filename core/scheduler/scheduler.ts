// Chooses the node that runs a request: candidates are the live nodes holding the model, less those
// cooling down after failures, and the balancer plugin picks one. When every candidate's slots are
// busy the request waits in this node's queue, in arrival order per model, and starts on the first
// candidate that frees a slot. No I/O: the request path awaits a route and says how it ended.

import type { Balancer, Candidate, RequestKind, RouteOutcome, RouteRequest } from '../contracts/balancer.js';
import { ProductError } from '../errors.js';
import { AsyncParallelHook, STAGE, SyncBailHook, SyncWaterfallHook } from '../kernel/hooks.js';
import { Cooldown, DEFAULT_COOLDOWN, type CooldownPolicy } from './cooldown.js';
import { RouteLedger } from './route-ledger.js';

export interface SchedulerHooks {
  /** Narrows or reorders the candidates before any is picked. */
  readonly filterCandidates: SyncWaterfallHook<[Candidate[], RouteRequest]>;
  /** A candidate's scoreBias for this request (starts at 0): scoring balancers add it to their score. */
  readonly scoreNode: SyncWaterfallHook<[number, Candidate, RouteRequest]>;
  /** First tap that returns a candidate wins; the balancer taps at STAGE.builtin. */
  readonly pickNode: SyncBailHook<[RouteRequest, readonly Candidate[]], Candidate | undefined>;
  /** After a request was routed, for tracing and metrics. */
  readonly afterRoute: AsyncParallelHook<[RouteRequest, Candidate]>;
}

/** A candidate as its source knows it. */
export interface SourcedCandidate extends Candidate {
  /** When its load figures were announced, ms since the epoch on this node's clock; absent when they are live. */
  loadAt?: number;
}

/** Where candidates come from: this node alone, or the cluster's membership view. */
export type CandidateSource = (request: RouteRequest) => SourcedCandidate[];

/** Ollama's words (server/sched.go ErrMaxQueue), which clients may match on. */
export const QUEUE_FULL_MESSAGE = 'server busy, please try again.  maximum pending requests exceeded';

export interface SchedulerOptions {
  /** Requests that may wait for a slot at once (scheduler.queue_size); one more is refused with 503. */
  queueSize: number;
  cooldown?: CooldownPolicy;
  /** How often waiting requests look again at the candidates' gossiped load, ms. */
  recheckMs?: number;
  /** Wall clock, ms since the epoch. */
  now?: () => number;
}

export interface RouteOptions {
  /** Nodes not to pick: those a forward of this request already failed on. Such a retry waits ahead of new requests. */
  exclude?: ReadonlySet<string>;
  /** Gives up waiting for a slot: the route rejects with the signal's reason. */
  signal?: AbortSignal;
  /** How the request is listed in the queue (the client's X-Request-Id, or the server's own id). */
  id?: string;
}

export interface Route {
  candidate: Candidate;
  /** Its place in the queue when it joined (1 is first); 0 when it started at once. */
  queuePosition: number;
  /** The node answered (a forward got its status): a node that cooled down is back in the pool. */
  answered(): void;
  /** Call once when the request ends. */
  finish(outcome: RouteOutcome): void;
  /** The node failed before answering (refused, reset, gone): it cools down, and the route ends as an error. */
  unreachable(): void;
}

/** A request waiting for a slot, as GET /api/v1/queue lists it. */
export interface QueueEntry {
  id: string;
  model: string;
  kind: RequestKind;
  /** 1 is next. */
  position: number;
  waitedMs: number;
}

/** What this node routed to another (or to itself), for the cluster status. */
export interface NodeRouting {
  routed: number;
  /** Forwards that failed before an answer. */
  failed: number;
  /** ms since the epoch. */
  lastRoutedAt?: number;
  coolingUntil?: number;
}

interface Waiter {
  request: RouteRequest;
  options: RouteOptions;
  id: string;
  joinedAt: number;
  position: number;
  resolve(route: Route): void;
  reject(error: unknown): void;
  abandon(): void;
}

const DEFAULT_RECHECK_MS = 50;

export class Scheduler {
  readonly hooks: SchedulerHooks = Object.freeze({
    filterCandidates: new SyncWaterfallHook<[Candidate[], RouteRequest]>(['candidates', 'request']),
    scoreNode: new SyncWaterfallHook<[number, Candidate, RouteRequest]>(['bias', 'candidate', 'request']),
    pickNode: new SyncBailHook<[RouteRequest, readonly Candidate[]], Candidate | undefined>(['request', 'candidates']),
    afterRoute: new AsyncParallelHook<[RouteRequest, Candidate]>(['request', 'candidate']),
  });

  private readonly waiting: Waiter[] = [];
  /** Routes under way per node and model (`node\nmodel`): the part of each node's load this node knows at once. */
  private readonly mine = new Map<string, number>();
  private readonly routing = new Map<string, NodeRouting>();
  private readonly ledger = new RouteLedger();
  private readonly cooldown: Cooldown;
  private readonly now: () => number;
  private recheck: NodeJS.Timeout | undefined;
  private nextId = 0;
  private underWay = 0;

  constructor(
    private readonly balancer: Balancer,
    private readonly candidates: CandidateSource,
    private readonly options: SchedulerOptions,
  ) {
    this.cooldown = new Cooldown(options.cooldown ?? DEFAULT_COOLDOWN);
    this.now = options.now ?? Date.now;
    this.hooks.pickNode.tap({ name: `balancer:${balancer.name}`, stage: STAGE.builtin }, (request, list) => balancer.pickNode(request, list));
  }

  /**
   * A node for `request`: at once when a candidate has a free slot (the balancer picks among all of
   * them), else after waiting in the queue. Refused with 503 when no node can run it or the queue is full.
   */
  async route(request: RouteRequest, options: RouteOptions = {}): Promise<Route> {
    const candidates = this.eligible(request, options);
    const queued = this.waiting.some((w) => w.request.model === request.model);
    if (!queued && candidates.some((c) => this.hasFreeSlot(c, request.model))) return this.start(request, this.pick(request, candidates), 0);
    if (this.waiting.length >= this.options.queueSize) throw new ProductError('OD_ERR_QUEUE_FULL', QUEUE_FULL_MESSAGE);
    return this.enqueue(request, options);
  }

  /**
   * This node, without waiting here: for a request another node routed here (it waited there) or
   * one the cluster view knows no holder for. The engine queues it behind its slots.
   */
  routeHere(request: RouteRequest): Route {
    const here = this.candidates(request).find((c) => c.local);
    if (!here) throw new ProductError('OD_ERR_NO_NODE', `no node can run model '${request.model}' now`);
    return this.start(request, here, 0);
  }

  /** Whether the balancer reads requests' promptBlocks and promptTokens (else the request path need not compute them). */
  get usesPrompt(): boolean {
    return this.balancer.usesPrompt === true;
  }

  /** Routes started and not yet finished. */
  get pending(): number {
    return this.underWay;
  }

  /** The requests waiting for a slot, first first. */
  queue(): QueueEntry[] {
    const now = this.now();
    return this.waiting.map((w, i) => ({ id: w.id, model: w.request.model, kind: w.request.kind, position: i + 1, waitedMs: now - w.joinedAt }));
  }

  /** Per node id: what this node routed there, and whether it cools down. */
  routingStats(): Map<string, NodeRouting> {
    const now = this.now();
    const stats = new Map<string, NodeRouting>();
    for (const [nodeId, routing] of this.routing) {
      const coolingUntil = this.cooldown.coolingUntil(nodeId, now);
      stats.set(nodeId, { ...routing, ...(coolingUntil !== undefined ? { coolingUntil } : {}) });
    }
    return stats;
  }

  /** The holders this request may go to now, their load brought up to date; refused with 503 when there are none. */
  private eligible(request: RouteRequest, options: RouteOptions): Candidate[] {
    const now = this.now();
    const all = this.candidates(request).filter((c) => !options.exclude?.has(c.nodeId));
    for (const c of all) {
      if (c.loadAt === undefined) continue;
      const drift = this.ledger.drift(c.nodeId, c.loadAt);
      c.load.activeRequests = Math.max(0, c.load.activeRequests + drift);
      c.modelRequests = Math.max(0, c.modelRequests + drift);
    }
    const healthy = all.filter((c) => this.cooldown.available(c.nodeId, now));
    // When every holder cools down, trying one beats refusing the request.
    const eligible = healthy.length > 0 ? healthy : all;
    if (eligible.length === 0) throw new ProductError('OD_ERR_NO_NODE', `no node can run model '${request.model}' now`);
    return eligible.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  private pick(request: RouteRequest, eligible: Candidate[]): Candidate {
    const filtered = this.hooks.filterCandidates.call(eligible, request);
    if (this.hooks.scoreNode.isUsed()) for (const c of filtered) c.scoreBias = this.hooks.scoreNode.call(0, c, request);
    const candidate = this.hooks.pickNode.call(request, filtered);
    if (!candidate) throw new ProductError('OD_ERR_NO_NODE', `no node can run model '${request.model}' now`);
    return candidate;
  }

  /**
   * A slot is free when fewer requests for the model run or wait there than the node's slots: the
   * more of what the node announced (up to a second old; of no weight while the model is not
   * loaded there, as it counts the node's other models) and what this node routed there since.
   */
  private hasFreeSlot(c: Candidate, model: string): boolean {
    const busy = Math.max(c.modelLoaded ? c.modelRequests : 0, this.mine.get(`${c.nodeId}\n${model}`) ?? 0);
    return busy < Math.max(1, c.load.slots);
  }

  private enqueue(request: RouteRequest, options: RouteOptions): Promise<Route> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Route>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
        if (this.waiting.length === 0) this.stopRecheck();
      };
      const retry = (options.exclude?.size ?? 0) > 0;
      const waiter: Waiter = {
        request,
        options,
        id: options.id ?? `queued-${++this.nextId}`,
        joinedAt: this.now(),
        position: retry ? 1 : this.waiting.length + 1,
        resolve,
        reject,
        abandon: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (retry) this.waiting.unshift(waiter);
      else this.waiting.push(waiter);
      this.recheck ??= setInterval(() => this.drain(), this.options.recheckMs ?? DEFAULT_RECHECK_MS).unref();
    });
  }

  /** Starts what can start, in order; a model whose first waiter cannot start holds its later ones back. */
  private drain(handedOver?: string): void {
    const held = new Set<string>();
    for (const waiter of [...this.waiting]) {
      const { model } = waiter.request;
      if (held.has(model)) continue;
      let eligible: Candidate[];
      try {
        eligible = this.eligible(waiter.request, waiter.options);
      } catch (error) {
        this.dequeue(waiter);
        waiter.reject(error);
        continue;
      }
      // The slot a route of this node just left is free whatever the gossip says.
      const slot = handedOver === undefined ? undefined : eligible.find((c) => c.nodeId === handedOver);
      const free = slot ? [slot] : eligible.filter((c) => this.hasFreeSlot(c, model));
      if (free.length === 0) {
        held.add(model);
        continue;
      }
      let candidate: Candidate;
      try {
        candidate = slot ?? this.pick(waiter.request, free);
      } catch (error) {
        this.dequeue(waiter);
        waiter.reject(error);
        continue;
      }
      this.dequeue(waiter);
      if (slot) handedOver = undefined;
      waiter.resolve(this.start(waiter.request, candidate, waiter.position));
    }
    if (this.waiting.length === 0) this.stopRecheck();
  }

  private dequeue(waiter: Waiter): void {
    this.waiting.splice(this.waiting.indexOf(waiter), 1);
    waiter.abandon();
  }

  private stopRecheck(): void {
    clearInterval(this.recheck);
    this.recheck = undefined;
  }

  private start(request: RouteRequest, candidate: Candidate, queuePosition: number): Route {
    const { nodeId } = candidate;
    const key = `${nodeId}\n${request.model}`;
    this.mine.set(key, (this.mine.get(key) ?? 0) + 1);
    this.underWay += 1;
    const ledgerEntry = this.ledger.begin(nodeId, this.now());
    const routing = this.routing.get(nodeId) ?? { routed: 0, failed: 0 };
    routing.routed += 1;
    routing.lastRoutedAt = this.now();
    this.routing.set(nodeId, routing);
    this.cooldown.routed(nodeId);
    this.balancer.started?.(nodeId, request);
    if (this.hooks.afterRoute.isUsed()) void this.hooks.afterRoute.promise(request, candidate);
    let ended = false;
    const end = (outcome: RouteOutcome, reachable: boolean) => {
      if (ended) return;
      ended = true;
      this.underWay -= 1;
      ledgerEntry.end(this.now());
      const left = (this.mine.get(key) ?? 1) - 1;
      if (left > 0) this.mine.set(key, left);
      else this.mine.delete(key);
      if (!reachable) {
        routing.failed += 1;
        this.cooldown.failed(nodeId, this.now());
      } else if (outcome === 'cancelled') this.cooldown.released(nodeId);
      else this.cooldown.succeeded(nodeId);
      this.balancer.finished?.(nodeId, request, outcome);
      if (this.waiting.length > 0) this.drain(reachable ? nodeId : undefined);
    };
    return {
      candidate,
      queuePosition,
      answered: () => this.cooldown.succeeded(nodeId),
      finish: (outcome) => end(outcome, true),
      unreachable: () => end('error', false),
    };
  }
}
