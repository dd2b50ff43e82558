// Chooses the node that runs a request: candidates are the live nodes holding the model, the
// balancer plugin picks one, once the request is admitted under the cap on pending requests. Pure
// of I/O; the request path calls it once per request.

import type { Balancer, Candidate, RouteOutcome, RouteRequest } from '../contracts/balancer.js';
import { ProductError } from '../errors.js';
import { AsyncParallelHook, STAGE, SyncBailHook, SyncWaterfallHook } from '../kernel/hooks.js';

export interface SchedulerHooks {
  /** Narrows or reorders the candidates before any is picked. */
  readonly filterCandidates: SyncWaterfallHook<[Candidate[], RouteRequest]>;
  /** First tap that returns a candidate wins; the balancer taps at STAGE.builtin. */
  readonly pickNode: SyncBailHook<[RouteRequest, readonly Candidate[]], Candidate | undefined>;
  /** After a request was routed, for tracing and metrics. */
  readonly afterRoute: AsyncParallelHook<[RouteRequest, Candidate]>;
}

/** Where candidates come from: this node alone, or the cluster's membership view. */
export type CandidateSource = (request: RouteRequest) => Candidate[];

/** Ollama's words (server/sched.go ErrMaxQueue), which clients may match on. */
export const QUEUE_FULL_MESSAGE = 'server busy, please try again.  maximum pending requests exceeded';

export interface SchedulerLimits {
  /** Requests routed and not yet finished, running or waiting, beyond which a new one is refused. */
  maxPending: number;
}

export interface RouteOptions {
  /** Nodes not to pick: those a forward of this request already failed on. */
  exclude?: ReadonlySet<string>;
  /** Only this node may run it: a request forwarded here is never forwarded again. */
  localOnly?: boolean;
}

export interface Route {
  candidate: Candidate;
  /** Call once when the request ends. */
  finish(outcome: RouteOutcome): void;
}

export class Scheduler {
  readonly hooks: SchedulerHooks = Object.freeze({
    filterCandidates: new SyncWaterfallHook<[Candidate[], RouteRequest]>(['candidates', 'request']),
    pickNode: new SyncBailHook<[RouteRequest, readonly Candidate[]], Candidate | undefined>(['request', 'candidates']),
    afterRoute: new AsyncParallelHook<[RouteRequest, Candidate]>(['request', 'candidate']),
  });

  private pendingCount = 0;

  constructor(
    private readonly balancer: Balancer,
    private readonly candidates: CandidateSource,
    private readonly limits: SchedulerLimits,
  ) {
    this.hooks.pickNode.tap({ name: `balancer:${balancer.name}`, stage: STAGE.builtin }, (request, list) => balancer.pickNode(request, list));
  }

  /** Requests routed and not yet finished. */
  get pending(): number {
    return this.pendingCount;
  }

  route(request: RouteRequest, options: RouteOptions = {}): Route {
    if (this.pendingCount >= this.limits.maxPending) throw new ProductError('OD_ERR_QUEUE_FULL', QUEUE_FULL_MESSAGE);
    const { exclude, localOnly = false } = options;
    const eligible = this.candidates(request).filter((c) => !exclude?.has(c.nodeId) && (c.local || !localOnly));
    const candidates = this.hooks.filterCandidates.call(
      eligible.sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
      request,
    );
    const candidate = this.hooks.pickNode.call(request, candidates);
    if (!candidate) throw new ProductError('OD_ERR_NO_NODE', `no node can run model '${request.model}' now`);
    this.pendingCount += 1;
    this.balancer.started?.(candidate.nodeId, request);
    void this.hooks.afterRoute.promise(request, candidate);
    let finished = false;
    return {
      candidate,
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        this.pendingCount -= 1;
        this.balancer.finished?.(candidate.nodeId, request, outcome);
      },
    };
  }
}
