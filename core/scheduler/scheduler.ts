// Chooses the node that runs a request: candidates are the live nodes holding the model, the
// balancer plugin picks one. Pure of I/O; the request path calls it once per request.

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

  constructor(
    private readonly balancer: Balancer,
    private readonly candidates: CandidateSource,
  ) {
    this.hooks.pickNode.tap({ name: `balancer:${balancer.name}`, stage: STAGE.builtin }, (request, list) => balancer.pickNode(request, list));
  }

  route(request: RouteRequest): Route {
    const candidates = this.hooks.filterCandidates.call(
      [...this.candidates(request)].sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
      request,
    );
    const candidate = this.hooks.pickNode.call(request, candidates);
    if (!candidate) throw new ProductError('OD_ERR_QUEUE_FULL', `no node can run model '${request.model}' now`);
    this.balancer.started?.(candidate.nodeId, request);
    void this.hooks.afterRoute.promise(request, candidate);
    let finished = false;
    return {
      candidate,
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        this.balancer.finished?.(candidate.nodeId, request, outcome);
      },
    };
  }
}
