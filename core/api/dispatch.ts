// Runs a request on this node under the route the scheduler chose for it, routing each request
// exactly once: the cluster hook routes before the handler and hands a route to this node over
// here. The balancer hears how the run ended; the node's load window (which the cluster
// announces) gets its first token and its end.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LoadWindow, RunFigures } from '../cluster/load-window.js';
import type { RouteOutcome, RouteRequest } from '../contracts/balancer.js';
import type { RunEvent } from '../contracts/engine.js';
import type { Route, Scheduler } from '../scheduler/scheduler.js';

export interface DispatchDeps {
  scheduler: Scheduler;
  load: LoadWindow;
}

/** What a handler runs its request through: the request's route, and the load window. */
export interface Dispatch {
  route(request: RouteRequest): Route;
  load: LoadWindow;
}

const chosenHere = new WeakMap<FastifyRequest, Route>();

function outcomeOf(error: unknown): RouteOutcome {
  return (error as Error)?.name === 'AbortError' ? 'cancelled' : 'error';
}

/**
 * The scheduler chose this node for `request`: its handler runs it under `route`. A handler that
 * fails before running it (a bad option, say) leaves it to be finished when the response ends.
 */
export function runHere(request: FastifyRequest, reply: FastifyReply, route: Route): void {
  chosenHere.set(request, route);
  reply.raw.once('close', () => route.finish(reply.statusCode >= 400 ? 'error' : reply.raw.writableFinished ? 'ok' : 'cancelled'));
}

/**
 * Routes with the route chosen for `request` before its handler ran; else (a request forwarded
 * here, or one the view knew no holder for) with a route to this node alone, which the scheduler
 * may refuse.
 */
export function requestDispatch(deps: DispatchDeps, request: FastifyRequest): Dispatch {
  return {
    load: deps.load,
    route: (routeRequest) => {
      const chosen = chosenHere.get(request);
      chosenHere.delete(request);
      return chosen ?? deps.scheduler.routeHere(routeRequest);
    },
  };
}

/** A streamed run (generate, chat) of a model of `modelSize` bytes, whose load (when it needs one) the load window times. */
export async function* dispatchStream(dispatch: Dispatch, request: RouteRequest, modelSize: number, run: () => AsyncIterable<RunEvent>): AsyncGenerator<RunEvent> {
  const route = dispatch.route(request);
  const load = dispatch.load.begin(performance.now());
  let outcome: RouteOutcome = 'cancelled';
  let figures: RunFigures | undefined;
  try {
    for await (const event of run()) {
      if (event.type === 'token') load.token(performance.now());
      else if (event.type === 'done') figures = { ...event, modelSize };
      yield event;
    }
    outcome = 'ok';
  } catch (error) {
    outcome = outcomeOf(error);
    throw error;
  } finally {
    load.end(performance.now(), figures);
    route.finish(outcome);
  }
}

/** A run with one answer (embed, load). */
export async function dispatchOnce<T>(dispatch: Dispatch, request: RouteRequest, run: () => Promise<T>): Promise<T> {
  const route = dispatch.route(request);
  const load = dispatch.load.begin(performance.now());
  try {
    const result = await run();
    route.finish('ok');
    return result;
  } catch (error) {
    route.finish(outcomeOf(error));
    throw error;
  } finally {
    load.end(performance.now());
  }
}
