// The node's HTTP server: Ollama's API, the OpenAI-compatible API and the /api/v1 cluster API on
// api.listen. Every route names the permission it needs; the auth plugin decides before any handler.

import type { Server } from 'node:http';
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Identity, Permission } from '../contracts/auth.js';
import type { Startable } from '../contracts/plugin.js';
import { splitHostPort } from '../config/values.js';
import { ProductError } from '../errors.js';
import { AsyncSeriesBailHook, AsyncSeriesHook } from '../kernel/hooks.js';
import { browserGuard } from './browser-guard-hook.js';
import { CallerLimits } from './caller-limits.js';
import { limitConnections } from './connection-limit.js';
import { FORWARDED_HEADER } from './forward/headers.js';
import { cutStalledReaders } from './stalled-readers.js';
import type { ApiDeps } from './deps.js';
import { handleError } from './errors.js';
import { isClusterRoute } from './forward/cluster-plan.js';
import { Forwarding } from './forward/forwarding.js';
import { keepRawBody } from './forward/raw-body.js';
import { parseJson } from './json-parse.js';
import { systemRoutes } from './system-routes.js';
import { answerUnmatched } from './unmatched.js';
import { readTlsMaterial } from '../security/tls-material.js';
import { AuditLog, auditPath } from '../security/audit-log.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller must be allowed to do; 'public' needs no identity. */
    permission?: Permission | 'public';
  }
}

export type RouteModule = (app: FastifyInstance, deps: ApiDeps) => void;

/** One row of the route table: every route the server has and what a caller needs for it. */
export interface RoutePermission {
  method: string;
  url: string;
  permission: Permission | 'public';
}

export interface ApiHooks {
  /** Decides who may call a route before its handler; a tap returning an Error refuses the request. */
  readonly authorize: AsyncSeriesBailHook<[FastifyRequest, Permission], Error | undefined>;
  /** Before a request is sent to another node, to add headers or veto it. */
  readonly beforeForward: AsyncSeriesHook<[FastifyRequest, string]>;
}

/**
 * Ollama accepts JSON whatever the Content-Type says (curl -d sends a form type); large bodies parse
 * in steps. A route that may forward keeps the bytes too, which go to another node unchanged.
 */
async function parseJsonBody(request: FastifyRequest, body: Buffer): Promise<unknown> {
  if (isClusterRoute(request.method, request.routeOptions.url)) keepRawBody(request, body);
  if (isBlank(body)) return undefined;
  try {
    return await parseJson(body);
  } catch (error) {
    throw new ProductError('OD_ERR_BAD_REQUEST', `invalid JSON in request body: ${(error as Error).message}`);
  }
}

/**
 * Connections the kernel may hold before the node accepts them. Node's 511 overflows under a burst
 * of new connections, and a client whose SYN is dropped waits a second to retry.
 */
const LISTEN_BACKLOG = 4096;

/** Node looks for connections past headersTimeout or requestTimeout only this often (30 s by default). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/** Whether a body is only JSON whitespace: read until the first other byte, never decoded. */
function isBlank(body: Buffer): boolean {
  for (const byte of body) if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return false;
  return true;
}

/** Who each request proved to be, for its limits and the audit log. */
const callers = new WeakMap<FastifyRequest, Identity>();

/** What the audit log says of a request: where it came from and who it proved to be. */
function audited(request: FastifyRequest) {
  const caller = callers.get(request);
  return { method: request.method, path: auditPath(request.url), remote: request.ip, ...(caller ? { subject: caller.subject, via: caller.via } : {}) };
}

export class ApiServer implements Startable {
  readonly hooks: ApiHooks = Object.freeze({
    authorize: new AsyncSeriesBailHook<[FastifyRequest, Permission], Error | undefined>(['request', 'permission']),
    beforeForward: new AsyncSeriesHook<[FastifyRequest, string]>(['request', 'nodeId']),
  });
  private app: FastifyInstance | undefined;
  private forwarding: Forwarding | undefined;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private address: string | undefined;
  private readonly table: RoutePermission[] = [];
  private audit: AuditLog | undefined;
  private readonly limits: CallerLimits;

  constructor(
    private readonly deps: ApiDeps,
    private readonly routes: readonly RouteModule[],
  ) {
    const { rate_limit: ratePerMinute, max_in_flight: maxInFlight } = deps.config.security.auth;
    this.limits = new CallerLimits({ ratePerMinute, maxInFlight });
    this.hooks.authorize.tapPromise('auth', async (request, permission) => {
      const identity = await deps.auth.authenticate({
        method: request.method,
        path: request.url,
        headers: request.headers,
        remoteAddress: request.socket.remoteAddress,
      });
      if (!identity) return new ProductError('OD_ERR_UNAUTHORIZED', 'unauthorized');
      callers.set(request, identity);
      if (!deps.auth.authorize(identity, permission)) {
        return new ProductError('OD_ERR_FORBIDDEN', `forbidden: '${identity.subject}' lacks the ${permission} permission`);
      }
      return undefined;
    });
  }

  /**
   * Holds a proven caller to its rate and in-flight limits. A forward is counted where the caller
   * sent it, not again on the node that serves it.
   */
  private limitCaller(request: FastifyRequest, reply: FastifyReply): void {
    const caller = callers.get(request);
    if (!caller || !this.limits.enabled || request.headers[FORWARDED_HEADER] !== undefined) return;
    const admission = this.limits.admit(`${caller.via}:${caller.subject}`, Date.now());
    if (!admission.admitted) {
      reply.header('retry-after', String(admission.retryAfterS));
      throw new ProductError('OD_ERR_RATE_LIMITED', `${admission.reason} for '${caller.subject}'; try again in ${admission.retryAfterS} s`);
    }
    reply.raw.once('close', admission.release);
  }

  /** Every route with its permission, once built. */
  routeTable(): readonly RoutePermission[] {
    return this.table;
  }

  /** The base URL it serves on, once started. */
  get url(): string | undefined {
    return this.address;
  }

  build(): FastifyInstance {
    const { config } = this.deps;
    const tlsMaterial = this.deps.tls ?? readTlsMaterial(config.security.tls);
    const timeouts = { headersTimeout: config.api.headers_timeout, requestTimeout: config.api.timeout, connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS };
    const app = Fastify({
      logger: false,
      bodyLimit: config.api.max_body_size,
      requestTimeout: config.api.timeout,
      forceCloseConnections: 'idle',
      // Ollama answers HEAD only where it registers it; elsewhere HEAD is a wrong method (405).
      exposeHeadRoutes: false,
      return503OnClosing: true,
      ...(tlsMaterial
        ? { https: { ...timeouts, handshakeTimeout: config.api.headers_timeout, cert: tlsMaterial.cert, key: tlsMaterial.key } }
        : { http: timeouts }),
    } as FastifyHttpOptions<Server>) as unknown as FastifyInstance;
    const connections = tlsMaterial ? 'secureConnection' : 'connection';
    limitConnections(app.server, config.api.max_connections, connections);
    if (config.api.write_timeout > 0) {
      const stop = cutStalledReaders(app.server, config.api.write_timeout, connections);
      app.addHook('onClose', async () => stop());
    }
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, parseJsonBody);
    app.setErrorHandler(handleError(this.deps.logger));
    answerUnmatched(app);
    app.addHook('onRequest', (_request, reply, done) => {
      this.inFlight += 1;
      reply.raw.once('close', () => {
        this.inFlight -= 1;
        if (this.inFlight === 0) this.drained?.();
      });
      done();
    });
    // Before auth and before the body is read: a foreign page's "simple" POST must reach no handler.
    app.addHook('onRequest', browserGuard(app, config.api.origins));
    app.addHook('onRoute', (route) => {
      const permission = (route.config as { permission?: Permission | 'public' } | undefined)?.permission;
      // A route that forgot its permission would be open or closed by accident: refuse to serve it.
      if (!permission) throw new Error(`route ${String(route.method)} ${route.url} declares no permission`);
      for (const method of [route.method].flat()) this.table.push({ method, url: route.url, permission });
    });
    app.addHook('onRequest', async (request, reply) => {
      const permission = request.routeOptions.config.permission ?? 'admin';
      // Like Gin's 404 and 405, an answer for no route needs no identity.
      if (permission === 'public' || request.is404) return;
      const refusal = await this.hooks.authorize.promise(request, permission);
      if (!refusal) return this.limitCaller(request, reply);
      const unauthorized = (refusal as ProductError).code === 'OD_ERR_UNAUTHORIZED';
      this.audit?.record({ event: 'auth.refused', status: unauthorized ? 401 : 403, reason: refusal.message, ...audited(request) });
      // RFC 6750: a 401 names the scheme that would be accepted.
      if (unauthorized) reply.header('www-authenticate', 'Bearer');
      throw refusal;
    });
    app.addHook('onResponse', async (request, reply) => {
      const permission = request.routeOptions.config.permission;
      if ((permission !== 'admin' && permission !== 'write') || reply.statusCode === 401 || reply.statusCode === 403) return;
      this.audit?.record({ event: 'admin', status: reply.statusCode, ...audited(request) });
    });
    this.forwarding = new Forwarding({ ...this.deps, tls: tlsMaterial });
    this.forwarding.register(app, this.hooks.beforeForward);
    systemRoutes(app, this.deps);
    for (const register of this.routes) register(app, this.deps);
    return app;
  }

  async start(): Promise<void> {
    if (this.app) return;
    const { audit_log: auditFile } = this.deps.config.security;
    if (auditFile !== '' && !this.audit) {
      const audit = new AuditLog(auditFile, this.deps.logger);
      await audit.open();
      this.audit = audit;
    }
    const app = this.build();
    const { host, port } = splitHostPort(this.deps.config.api.listen);
    this.app = app;
    await app.listen({ host, port, backlog: LISTEN_BACKLOG });
    this.forwarding?.start(app.server);
    const bound = app.server.address();
    const scheme = this.deps.config.security.tls.enabled ? 'https' : 'http';
    if (bound && typeof bound === 'object') {
      const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
      this.address = `${scheme}://${shownHost}:${bound.port}`;
    }
    this.deps.logger.info({ url: this.address }, 'API listening');
  }

  /** Stops accepting, lets in-flight requests finish until `signal` aborts, then closes every connection. */
  async stop(signal?: AbortSignal): Promise<void> {
    const app = this.app;
    this.app = undefined;
    if (!app) return;
    const closed = app.close();
    // A connection that opened but never sent a request is not idle to Node, and would hold
    // close() until headersTimeout; once no request runs, every remaining connection can go.
    if (this.inFlight > 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    this.drained = undefined;
    app.server.closeAllConnections();
    await closed;
    await this.forwarding?.stop();
    await this.audit?.close();
    this.audit = undefined;
  }
}
