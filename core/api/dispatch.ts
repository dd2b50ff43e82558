// Runs a request where the scheduler says: routes it, runs it, and reports how it ended to the
// balancer. A single node runs everything itself; forwarding joins here when nodes form a cluster.

import type { RouteOutcome, RouteRequest } from '../contracts/balancer.js';
import { ProductError } from '../errors.js';
import type { Scheduler } from '../scheduler/scheduler.js';

function outcomeOf(error: unknown): RouteOutcome {
  return (error as Error)?.name === 'AbortError' ? 'cancelled' : 'error';
}

function routeLocally(scheduler: Scheduler, request: RouteRequest) {
  const route = scheduler.route(request);
  if (!route.candidate.local) {
    route.finish('error');
    throw new ProductError('OD_ERR_INTERNAL', `node ${route.candidate.nodeId} was chosen but this node cannot forward yet`);
  }
  return route;
}

/** A streamed run (generate, chat). */
export async function* dispatchStream<T>(scheduler: Scheduler, request: RouteRequest, run: () => AsyncIterable<T>): AsyncGenerator<T> {
  const route = routeLocally(scheduler, request);
  let outcome: RouteOutcome = 'cancelled';
  try {
    yield* run();
    outcome = 'ok';
  } catch (error) {
    outcome = outcomeOf(error);
    throw error;
  } finally {
    route.finish(outcome);
  }
}

/** A run with one answer (embed). */
export async function dispatchOnce<T>(scheduler: Scheduler, request: RouteRequest, run: () => Promise<T>): Promise<T> {
  const route = routeLocally(scheduler, request);
  try {
    const result = await run();
    route.finish('ok');
    return result;
  } catch (error) {
    route.finish(outcomeOf(error));
    throw error;
  }
}
