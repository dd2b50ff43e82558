// Ties a request's work to its connection: when the client goes away before the response is
// complete, the signal aborts and the engine stops generating for nobody.

import type { FastifyReply } from 'fastify';

export function clientSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new DOMException('the client closed the connection', 'AbortError'));
  });
  return controller.signal;
}
