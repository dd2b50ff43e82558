// The request path's cluster step, after the body is parsed and before a handler resolves the model:
// routes an inference request once (run here, or forward it, retrying another holder when a forward
// fails before its answer, going on on another when a forwarded stream breaks mid-answer), sends
// show and push to a holder, and fans delete, copy and unload out.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Member } from '../../cluster/types.js';
import type { RequestKind, RouteRequest } from '../../contracts/balancer.js';
import type { ProductError } from '../../errors.js';
import { parseModelName } from '../../models/name.js';
import { promptBlocks, type PromptSource } from '../../scheduler/prompt-blocks.js';
import type { Route } from '../../scheduler/scheduler.js';
import type { AsyncSeriesHook } from '../../kernel/hooks.js';
import type { ApiDeps } from '../deps.js';
import { clientSignal } from '../client-abort.js';
import { runHere } from '../dispatch.js';
import { failureReason, forwardFailure, holdersUnavailable, nextStep, nodeUnreachable, type FailedTarget } from './attempts.js';
import { clusterPlan, isInferenceRoute, type ClusterPlan } from './cluster-plan.js';
import { continuationBody, forwardedBody, splicedStream, streamedAs, type SplicedStream } from './continuation.js';
import type { Forwarder, OutgoingRequest, UpstreamResponse } from './forwarder.js';
import { FORWARDED_HEADER, QUEUE_POSITION_HEADER, REFUSED_HEADER, REQUEST_ID_HEADER, SERVED_BY_HEADER, endToEndHeaders, forwardedRequestHeaders } from './headers.js';
import { membersHolding, unavailableHolders } from './holders.js';
import { rawBodyOf } from './raw-body.js';
import { readWhole, relaySpliced, relayStream, sendWhole, type WholeAnswer } from './relay.js';
import { AnswerSplice } from './splice.js';

export interface ClusterHookDeps extends ApiDeps {
  forwarder: Forwarder;
  /** The API server's hook before each send to another node: a tap may add headers or veto by throwing. */
  beforeForward: AsyncSeriesHook<[FastifyRequest, string]>;
}

/** What the cluster step did: answered the client itself, or left the request to this node's handler. */
type Handled = 'answered' | 'here';

/** Why a forward brought no answer to relay. */
type Miss = 'unreachable' | 'refused' | 'client-gone';

const answer = (result: UpstreamResponse | Miss): UpstreamResponse | undefined => (typeof result === 'string' ? undefined : result);

/** A client's own request id, listed in GET /api/v1/queue, when it is a short printable token. */
function clientRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && /^[\x21-\x7e]{1,128}$/.test(value) ? value : undefined;
}

class ClusterStep {
  private readonly gone: AbortSignal;
  private readonly failures: FailedTarget[] = [];
  /** When the request reached this node (performance.now()): a spliced stream's total_duration counts from here. */
  private readonly startedAt = performance.now();
  /** How a stream of this request is asked for again when its node dies; undefined when it cannot be. */
  private spliced: SplicedStream | undefined;

  constructor(
    private readonly deps: ClusterHookDeps,
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
  ) {
    this.gone = clientSignal(reply);
  }

  /** The request as `target` gets it; with `splice`, as the continuation of the answer it relayed so far. */
  private async outgoing(target: Member, splice?: AnswerSplice): Promise<OutgoingRequest> {
    await this.deps.beforeForward.promise(this.request, target.id);
    const { request } = this;
    const headers = forwardedRequestHeaders(request.headers, this.deps.nodeId);
    const raw = rawBodyOf(request);
    const body = splice && this.spliced ? continuationBody(raw, this.spliced, splice.tokens, splice.text) : forwardedBody(raw, request.body);
    if (body !== raw && body) headers['content-length'] = String(body.length);
    return { method: request.method, path: request.raw.url ?? request.url, headers, body };
  }

  /**
   * The target's answer; else why not: it failed before answering or refused (noted, so another
   * node may try), or the client left. A beforeForward tap that throws fails the request with its error.
   */
  private async attempt(target: Member, splice?: AnswerSplice): Promise<UpstreamResponse | Miss> {
    const outgoing = await this.outgoing(target, splice);
    let upstream: UpstreamResponse;
    try {
      upstream = await this.deps.forwarder.send(target, outgoing, this.gone);
    } catch (error) {
      if (nextStep({ answered: false, error }, this.gone.aborted) !== 'retry') return 'client-gone';
      this.failures.push({ node: target.name, reason: failureReason(error) });
      return 'unreachable';
    }
    if (nextStep({ answered: true, status: upstream.status, headers: upstream.headers }, this.gone.aborted) === 'relay') return upstream;
    upstream.body.destroy();
    if (this.gone.aborted) return 'client-gone';
    this.failures.push({ node: target.name, reason: 'drained' });
    return 'refused';
  }

  /** Nothing more to say to a client that left. */
  private abandoned(): Handled {
    this.reply.hijack();
    this.reply.raw.destroy();
    return 'answered';
  }

  /** Ends a spliced stream no node can go on with: its last line says why. */
  private endSplice(splice: AnswerSplice, model: string, error: unknown): Handled {
    const message = this.failures.length > 0 ? forwardFailure(model, this.failures).message : (error as Error)?.message || String(error);
    this.reply.raw.end(splice.errorLine(message));
    return 'answered';
  }

  /**
   * Routes once, waiting in the queue while every holder is busy; a forward that fails before its
   * answer is routed again without the nodes that failed. A forwarded stream that breaks before its
   * final line goes on on another holder (never this node) from the answer so far, spliced onto
   * the client's stream, until it ends or no holder is left.
   */
  async route(kind: RequestKind, model: string, prompt?: PromptSource): Promise<Handled> {
    const tried = new Set<string>();
    const id = clientRequestId(this.request.headers[REQUEST_ID_HEADER]) ?? String(this.request.id);
    // Hashing the prompt costs microseconds: only for a balancer that reads it.
    const request: RouteRequest = prompt && this.deps.scheduler.usesPrompt ? { model, kind, ...promptBlocks(prompt, this.request.body) } : { model, kind };
    this.spliced = splicedStream(this.request.method, this.request.routeOptions.url, this.request.body);
    const dialect = this.spliced?.dialect;
    /** Set once the client's stream began: what later forwards continue. */
    let splice: AnswerSplice | undefined;
    for (;;) {
      let route: Route;
      try {
        route = await this.deps.scheduler.route(request, { exclude: tried, signal: this.gone, id });
      } catch (error) {
        if (this.gone.aborted) return this.abandoned();
        if (splice) return this.endSplice(splice, model, error);
        if ((error as ProductError).code !== 'OD_ERR_NO_NODE') throw error;
        if (this.failures.length > 0) throw forwardFailure(model, this.failures);
        const unavailable = unavailableHolders(this.deps.cluster.members(), model);
        if (unavailable.length > 0) throw holdersUnavailable(model, unavailable);
        // No member lists it: the handler answers as a lone node would (404).
        return 'here';
      }
      if (route.queuePosition > 0 && !splice) this.reply.raw.setHeader(QUEUE_POSITION_HEADER, String(route.queuePosition));
      if (route.candidate.local) {
        runHere(this.request, this.reply, route);
        return 'here';
      }
      tried.add(route.candidate.nodeId);
      const target = this.deps.cluster.member(route.candidate.nodeId);
      if (!target) {
        this.failures.push({ node: route.candidate.nodeId, reason: 'left the cluster' });
        route.unreachable();
        if (this.gone.aborted) return this.abandoned();
        continue;
      }
      let result: UpstreamResponse | Miss;
      try {
        result = await this.attempt(target, splice);
      } catch (error) {
        route.finish('error');
        if (splice) return this.endSplice(splice, model, error);
        throw error;
      }
      if (typeof result !== 'string') {
        route.answered();
        const streamed = dialect !== undefined && streamedAs(dialect, result.headers['content-type']) ? dialect : undefined;
        if (!splice && (!streamed || result.status >= 400)) {
          route.finish(await relayStream(this.reply, result, this.gone));
          return 'answered';
        }
        if (!streamed || (splice && result.status !== 200)) {
          result.body.destroy();
          this.failures.push({ node: target.name, reason: `its continuation answered ${result.status} ${result.headers['content-type'] ?? ''}`.trim() });
          route.finish('error');
          continue;
        }
        if (splice) splice.nextLeg();
        else {
          splice = new AnswerSplice(streamed, this.startedAt);
          this.reply.hijack();
          this.reply.raw.writeHead(result.status, endToEndHeaders(result.headers));
        }
        if ((await relaySpliced(this.reply.raw, result, splice)) === 'ended') {
          route.finish(splice.ended === 'done' ? 'ok' : 'error');
          this.reply.raw.end();
          return 'answered';
        }
        if (this.gone.aborted) {
          route.finish('cancelled');
          return this.abandoned();
        }
        route.unreachable();
        this.failures.push({ node: target.name, reason: 'its stream broke mid-answer' });
        // This node's own handler cannot take up a stream already begun.
        tried.add(this.deps.nodeId);
        continue;
      }
      if (result === 'unreachable') route.unreachable();
      else route.finish(result === 'client-gone' ? 'cancelled' : 'error');
      if (this.gone.aborted) return this.abandoned();
    }
  }

  /** Show and push: here when this node holds the model, else at a holder of its newest copy. */
  async oneHolder(model: string): Promise<Handled> {
    if (await this.deps.store.getModel(parseModelName(model))) return 'here';
    const newest = this.deps.cluster.holders(model).filter((m) => !m.self);
    const targets = newest.length > 0 ? newest : membersHolding(this.deps.cluster.members(), model).filter((m) => !m.self);
    for (const target of targets) {
      const upstream = answer(await this.attempt(target));
      if (upstream) {
        await relayStream(this.reply, upstream, this.gone);
        return 'answered';
      }
      if (this.gone.aborted) return this.abandoned();
    }
    if (this.failures.length > 0) throw forwardFailure(model, this.failures);
    return 'here';
  }

  /** A drain or undrain of another node is done there; an unknown node is the handler's 404. */
  async atNode(idOrName: string): Promise<Handled> {
    const target = this.deps.cluster.member(idOrName);
    if (!target || target.self) return 'here';
    const upstream = answer(await this.attempt(target));
    if (upstream) {
      await relayStream(this.reply, upstream, this.gone);
      return 'answered';
    }
    if (this.gone.aborted) return this.abandoned();
    throw nodeUnreachable(this.failures[0]!);
  }

  /** With no leader known the handler here says so. */
  atLeader(): Promise<Handled> {
    const leader = this.deps.consensus.leader();
    return leader ? this.atNode(leader.id) : Promise.resolve('here');
  }

  /** Delete, copy and unload: every holder does it; the answer is 200 when all did, else the first failure. */
  async everyHolder(model: string): Promise<Handled> {
    const holders = membersHolding(this.deps.cluster.members(), model);
    const others = holders.filter((m) => !m.self);
    if (others.length === 0) return 'here';
    const answers = await Promise.all(
      others.map(async (target): Promise<WholeAnswer | FailedTarget> => {
        const outgoing = await this.outgoing(target);
        try {
          return await readWhole(await this.deps.forwarder.send(target, outgoing, this.gone));
        } catch (error) {
          return { node: target.name, reason: failureReason(error) };
        }
      }),
    );
    if (this.gone.aborted) return this.abandoned();
    const failed = answers.find((answer) => !('status' in answer) || answer.status >= 400);
    if (failed && !('status' in failed)) throw forwardFailure(model, [failed]);
    if (!failed && holders.some((m) => m.self)) return 'here';
    sendWhole(this.reply, (failed ?? answers[0]) as WholeAnswer);
    return 'answered';
  }
}

function act(step: ClusterStep, plan: ClusterPlan): Promise<Handled> {
  if (plan.action === 'route') return step.route(plan.kind, plan.model, plan.prompt);
  if (plan.action === 'one-holder') return step.oneHolder(plan.model);
  if (plan.action === 'at-node') return step.atNode(plan.node);
  if (plan.action === 'at-leader') return step.atLeader();
  return step.everyHolder(plan.model);
}

/** The preHandler of every route; it acts only on those the cluster takes part in. */
export function clusterHook(deps: ClusterHookDeps) {
  const name = deps.config.node.name;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const inference = isInferenceRoute(request.method, request.routeOptions.url);
    if (request.headers[FORWARDED_HEADER] !== undefined) {
      // Forwarded here: served here, never forwarded again; a drained node refuses so that the sender tries another.
      if (inference && deps.cluster.self().drained) {
        return reply.code(503).header(REFUSED_HEADER, 'drained').send({ error: `node '${name}' is drained and takes no new requests` });
      }
    } else {
      const plan = clusterPlan(request.method, request.routeOptions.url, request.body, request.params as Record<string, string>);
      if (plan && (await act(new ClusterStep(deps, request, reply), plan)) === 'answered') return reply;
    }
    if (inference) reply.header(SERVED_BY_HEADER, name);
    return undefined;
  };
}
