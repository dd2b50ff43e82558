// The browser guard as the API server's first onRequest hook: it answers refusals and preflights
// before auth, routing or body parsing, and reads the machine's names only when a request needs them.

import { hostname, networkInterfaces } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { addressIsLoopback, allowedOrigins, judgeBrowserRequest, originPolicy, type LocalMachine } from './browser-guard.js';

const thisMachine: LocalMachine = {
  hostname,
  addresses: () =>
    Object.values(networkInterfaces())
      .flat()
      .map((iface) => iface!.address),
};

/**
 * `origins` are api.origins, added to Ollama's own list. A callback hook: the verdict needs no
 * I/O, and a request it serves goes on to the next hook at once instead of after a promise.
 */
export function browserGuard(app: FastifyInstance, origins: readonly string[]) {
  const policy = originPolicy(allowedOrigins(origins));
  let loopbackListener: boolean | undefined;
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (loopbackListener === undefined) {
      const bound = app.server.address();
      loopbackListener = typeof bound === 'object' && bound !== null && addressIsLoopback(bound.address);
    }
    const verdict = judgeBrowserRequest(
      policy,
      { method: request.method, origin: request.headers.origin, host: request.headers.host ?? '' },
      loopbackListener ? thisMachine : undefined,
    );
    reply.headers(verdict.headers);
    if (verdict.action === 'serve') done();
    else reply.code(verdict.status).send();
  };
}
