// Answers requests no route takes as Ollama's Gin router does: a trailing-slash redirect when the
// other spelling has a route, 405 with Allow when another method has one, else 404, in plain text.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Gin lists allowed methods in the order its method trees were made; Ollama registers HEAD first. */
const GIN_METHOD_ORDER = ['HEAD', 'GET', 'POST', 'DELETE', 'PUT', 'PATCH'];

interface Route {
  method: string;
  pattern: RegExp;
}

/** A Fastify path (`/api/blobs/:digest`, `/v1/models/*`) as a pattern for concrete paths. */
function pathPattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

/** The routes a server has, to tell a wrong method (405) from an unknown path (404). */
export class RouteTable {
  private readonly routes: Route[] = [];

  add(methods: string | string[], url: string): void {
    // A catch-all (CORS preflight, say) answers every path and so says nothing about this one.
    if (url === '*' || url === '/*') return;
    for (const method of [methods].flat()) this.routes.push({ method: method.toUpperCase(), pattern: pathPattern(url) });
  }

  /** Methods with a route for `path`, in Gin's order. */
  methodsFor(path: string): string[] {
    const methods = new Set(this.routes.filter((route) => route.pattern.test(path)).map((route) => route.method));
    return [...methods].sort((a, b) => rank(a) - rank(b));
  }

  /** The other spelling of `path` (with or without its trailing slash) when `method` has a route there. */
  trailingSlashTwin(method: string, path: string): string | undefined {
    if (path === '/') return undefined;
    const twin = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
    return this.methodsFor(twin).includes(method) ? twin : undefined;
  }
}

function rank(method: string): number {
  const at = GIN_METHOD_ORDER.indexOf(method);
  return at < 0 ? GIN_METHOD_ORDER.length : at;
}

function plain(reply: FastifyReply, status: number, body: string): FastifyReply {
  // Gin sets exactly text/plain, without a charset.
  return reply.code(status).header('content-type', 'text/plain').send(body);
}

/** Go's http.Redirect: 301 for GET (307 keeps any other method and its body), a small HTML body for GET and HEAD. */
function redirect(request: FastifyRequest, reply: FastifyReply, path: string): FastifyReply {
  const query = request.url.indexOf('?');
  const location = query < 0 ? path : `${path}${request.url.slice(query)}`;
  void reply.code(request.method === 'GET' ? 301 : 307).header('location', location);
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply.send();
  const statusText = request.method === 'GET' ? 'Moved Permanently' : 'Temporary Redirect';
  return reply.header('content-type', 'text/html; charset=utf-8').send(`<a href="${location.replace(/"/g, '&#34;')}">${statusText}</a>.\n\n`);
}

/** Records every route `app` gets from now on and answers what none of them takes. */
export function answerUnmatched(app: FastifyInstance): void {
  const table = new RouteTable();
  app.addHook('onRoute', (route) => table.add(route.method, route.url));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0]!;
    const twin = table.trailingSlashTwin(request.method, path);
    if (twin !== undefined) return redirect(request, reply, twin);
    const allowed = table.methodsFor(path).filter((method) => method !== request.method);
    if (allowed.length > 0) return plain(reply.header('allow', allowed.join(', ')), 405, '405 method not allowed');
    return plain(reply, 404, '404 page not found');
  });
}
