// Runs a request where the scheduler says: routes it, runs it, reports how it ended to the
// balancer and marks its first token and its end in the node's load window, which the cluster
// announces. A single node runs everything itself; forwarding joins here when nodes form a cluster.

import type { LoadWindow } from '../cluster/load-window.js';
import type { RouteOutcome, RouteRequest } from '../contracts/balancer.js';
import type { RunEvent } from '../contracts/engine.js';
import { ProductError } from '../errors.js';
import type { Scheduler } from '../scheduler/scheduler.js';

export interface DispatchDeps {
  scheduler: Scheduler;
  load: LoadWindow;
}

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
export async function* dispatchStream(deps: DispatchDeps, request: RouteRequest, run: () => AsyncIterable<RunEvent>): AsyncGenerator<RunEvent> {
  const route = routeLocally(deps.scheduler, request);
  const load = deps.load.begin(performance.now());
  let outcome: RouteOutcome = 'cancelled';
  let evalCount: number | undefined;
  try {
    for await (const event of run()) {
      if (event.type === 'token') load.token(performance.now());
      else if (event.type === 'done') evalCount = event.evalCount;
      yield event;
    }
    outcome = 'ok';
  } catch (error) {
    outcome = outcomeOf(error);
    throw error;
  } finally {
    load.end(performance.now(), evalCount);
    route.finish(outcome);
  }
}

/** A run with one answer (embed). */
export async function dispatchOnce<T>(deps: DispatchDeps, request: RouteRequest, run: () => Promise<T>): Promise<T> {
  const route = routeLocally(deps.scheduler, request);
  const load = deps.load.begin(performance.now());
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
