// Ties a request's work to its connection: when the client goes away before the response is
// complete, the signal aborts and the engine stops generating for nobody.

import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/** One signal per response: the cluster step and the handler of a request share it. */
const signals = new WeakMap<ServerResponse, AbortSignal>();

export function clientSignal(reply: FastifyReply): AbortSignal {
  const response = reply.raw;
  let signal = signals.get(response);
  if (signal) return signal;
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort(new DOMException('the client closed the connection', 'AbortError'));
  });
  signal = controller.signal;
  signals.set(response, signal);
  return signal;
}
