// With security.auth.enabled, every route of the route table is walked with every kind of caller:
// none, expired, forged (another secret, alg none), another issuer, a revoked key, and the three
// roles. Engine calls are counted, so a request without a valid identity provably reaches no
// engine; readonly cannot run inference, user cannot delete models or make keys, admin can.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { signHs256 } from '../../plugins/auth-jwt/sign.js';
import type { Engine } from '../contracts/engine.js';
import { createLogger, LOG_FILE } from '../log.js';
import { FORWARDED_HEADER } from './forward/headers.js';
import { createTiny } from './ollama/test-support.js';
import type { ApiServer, RoutePermission } from './server.js';

const SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const MODEL = 'tiny';

/** What each route needs, written out by hand: a route the server has and this table lacks fails the test. */
const EXPECTED: Record<string, RoutePermission['permission']> = {
  'GET /': 'public',
  'HEAD /': 'public',
  'GET /api/version': 'public',
  'HEAD /api/version': 'public',
  'GET /api/v1/health': 'public',
  'POST /api/generate': 'inference',
  'POST /api/chat': 'inference',
  'POST /api/embed': 'inference',
  'POST /api/embeddings': 'inference',
  'GET /api/tags': 'read',
  'HEAD /api/tags': 'read',
  'GET /api/ps': 'read',
  'POST /api/show': 'read',
  'POST /api/copy': 'write',
  'DELETE /api/delete': 'write',
  'POST /api/create': 'write',
  'POST /api/pull': 'write',
  'POST /api/push': 'write',
  'HEAD /api/blobs/:digest': 'write',
  'POST /api/blobs/:digest': 'write',
  'GET /api/v1/cluster/status': 'read',
  'GET /api/v1/queue': 'read',
  'GET /api/v1/nodes': 'read',
  'GET /api/v1/nodes/:id': 'read',
  'POST /api/v1/nodes/:id/drain': 'admin',
  'POST /api/v1/nodes/:id/undrain': 'admin',
  'DELETE /api/v1/nodes/:id': 'admin',
  'POST /api/v1/keys': 'admin',
  'GET /api/v1/keys': 'admin',
  'DELETE /api/v1/keys/:id': 'admin',
  'GET /api/v1/models/replicas': 'read',
  'POST /api/v1/models/replicas': 'admin',
  'GET /api/v1/transfers': 'read',
  'POST /api/v1/models/copy': 'write',
  'POST /v1/chat/completions': 'inference',
  'POST /v1/completions': 'inference',
  'POST /v1/embeddings': 'inference',
  'POST /v1/responses': 'inference',
  'POST /v1/messages': 'inference',
  'GET /v1/models': 'read',
  'GET /v1/models/*': 'read',
};

/** Bodies that would run the model once past auth; others get one their handler refuses without side effects. */
const BODIES: Record<string, unknown> = {
  '/api/generate': { model: MODEL, prompt: 'hi', stream: false, options: { num_predict: 1 } },
  '/api/chat': { model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: false, options: { num_predict: 1 } },
  '/api/embed': { model: MODEL, input: 'hi' },
  '/api/embeddings': { model: MODEL, prompt: 'hi' },
  '/v1/chat/completions': { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 },
  '/v1/completions': { model: MODEL, prompt: 'hi', max_tokens: 1 },
  '/v1/embeddings': { model: MODEL, input: 'hi' },
  '/v1/responses': { model: MODEL, input: 'hi', max_output_tokens: 1 },
  '/v1/messages': { model: MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] },
  '/api/show': { model: MODEL },
  '/api/copy': { source: 'nothing-here', destination: 'nothing-copy' },
  '/api/delete': { model: 'nothing-here' },
};

const concretePath = (url: string) =>
  url.replace(':digest', `sha256:${'0'.repeat(64)}`).replace(':id', url.startsWith('/api/v1/keys') ? '0'.repeat(16) : 'nobody').replace('*', MODEL);

function jwt(claims: Record<string, unknown>, secret = SECRET): string {
  return signHs256({ sub: 'tester', role: 'user', iss: 'ollama-distributed', iat: now(), exp: now() + 600, ...claims } as never, secret);
}
const algNone = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', role: 'admin', iss: 'ollama-distributed', exp: now() + 600 })).toString('base64url')}.`;

const dataDir = mkdtempSync(join(tmpdir(), 'od-auth-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const logger = createLogger({ level: 'debug', dataDir });
const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET }, dataDir, logger });
t.teardown(() => node.stop());
const { url } = node;

let engineCalls = 0;
const engine = node.node.component<Engine>('engine');
for (const method of ['generate', 'chat', 'embed', 'load', 'unload'] as const) {
  const original = (engine[method] as (...args: unknown[]) => unknown).bind(engine);
  (engine as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    engineCalls += 1;
    return original(...args);
  };
}

const tokens = { admin: jwt({ role: 'admin' }), user: jwt({ role: 'user' }), readonly: jwt({ role: 'readonly' }) };

async function ask(method: string, path: string, credential: string | undefined, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: any; challenge: string | null }> {
  const headers: Record<string, string> = { ...extra };
  if (credential !== undefined) headers.authorization = `Bearer ${credential}`;
  const withBody = method === 'POST' || method === 'DELETE';
  const response = await fetch(`${url}${path}`, { method, headers, ...(withBody ? { body: JSON.stringify(body ?? {}) } : {}) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Plain text answers (GET /) stay text.
  }
  return { status: response.status, body: parsed, challenge: response.headers.get('www-authenticate') };
}

/** The error message in Ollama's, OpenAI's or Anthropic's shape. */
const messageOf = (body: any): unknown => (typeof body?.error === 'string' ? body.error : body?.error?.message);

await createTiny(url, MODEL, {}, {}, { authorization: `Bearer ${tokens.admin}` });

const routes = node.node.component<ApiServer>('api').routeTable();
const secured = routes.filter((route) => route.permission !== 'public');
const keysMade: string[] = [];

t.test('every route declares the permission the table above gives it', async (t) => {
  t.same(Object.fromEntries(routes.map((r) => [`${r.method} ${r.url}`, r.permission])), EXPECTED);
});

t.test('GET /, /api/version and /api/v1/health answer without credentials and reveal no secret or model', async (t) => {
  for (const [method, path] of [['GET', '/'], ['HEAD', '/'], ['GET', '/api/version'], ['HEAD', '/api/version'], ['GET', '/api/v1/health']] as const) {
    const answer = await ask(method, path, undefined);
    t.equal(answer.status, 200, `${method} ${path}`);
    const text = JSON.stringify(answer.body ?? '');
    t.notOk(text.includes(SECRET) || text.includes(MODEL) || text.includes('odk_'), `${method} ${path} names no secret, key or model`);
  }
});

t.test('an API key made by an admin is accepted until it is revoked', async (t) => {
  const made = await ask('POST', '/api/v1/keys', tokens.admin, { name: 'ci', role: 'user' });
  t.equal(made.status, 201);
  t.match(made.body, { id: /^[0-9a-f]{16}$/, name: 'ci', role: 'user', revoked: false, key: /^odk_[A-Za-z0-9_-]{43}$/ });
  keysMade.push(made.body.key);
  t.equal((await ask('GET', '/api/tags', made.body.key)).status, 200, 'the key reads');
  const calls = engineCalls;
  t.equal((await ask('POST', '/api/generate', made.body.key, BODIES['/api/generate'])).status, 200, 'the key runs inference, as its role allows');
  t.ok(engineCalls > calls, 'and the engine ran it');
  t.equal((await ask('DELETE', '/api/delete', made.body.key, { model: MODEL })).status, 403, 'but its role cannot delete');

  const listed = await ask('GET', '/api/v1/keys', tokens.admin);
  t.equal(listed.status, 200);
  t.same(listed.body.keys, [{ id: made.body.id, name: 'ci', role: 'user', created_at: made.body.created_at, revoked: false }], 'listed without secret or hash');
  t.notOk(JSON.stringify(listed.body).includes(made.body.key.slice(4)), 'the secret never comes back');

  t.equal((await ask('DELETE', `/api/v1/keys/${made.body.id}`, tokens.admin)).status, 200);
  const refused = await ask('GET', '/api/tags', made.body.key);
  t.equal(refused.status, 401, 'a revoked key is refused');
  t.same(refused.body, { error: 'unauthorized' });
  t.match((await ask('GET', '/api/v1/keys', tokens.admin)).body.keys, [{ id: made.body.id, revoked: true }]);

  t.equal((await ask('DELETE', '/api/v1/keys/0123456789abcdef', tokens.admin)).status, 404, 'an unknown key');
  t.equal((await ask('DELETE', '/api/v1/keys/nope', tokens.admin)).status, 404, 'a malformed id');
  t.match(await ask('POST', '/api/v1/keys', tokens.admin, { name: 'x', role: 'root' }), { status: 400, body: { error: /role must be one of admin, user, readonly/ } });
  t.match(await ask('POST', '/api/v1/keys', tokens.admin, { role: 'user' }), { status: 400, body: { error: /name is required/ } });
});

t.test('no request without a valid identity reaches an engine, on any route', async (t) => {
  const callers: [string, string | undefined][] = [
    ['no credential', undefined],
    ['expired', jwt({ role: 'admin', exp: now() - 3600 })],
    ['not valid yet', jwt({ role: 'admin', nbf: now() + 3600 })],
    ['forged with another secret', jwt({ role: 'admin' }, randomBytes(32).toString('hex'))],
    ['alg none', algNone],
    ['another issuer', jwt({ role: 'admin', iss: 'somebody-else' })],
    ['malformed', 'not.a.token'],
    ['unknown API key', `odk_${randomBytes(32).toString('base64url')}`],
    ['revoked API key', keysMade[0]],
  ];
  const before = engineCalls;
  for (const [who, credential] of callers) {
    for (const route of secured) {
      const answer = await ask(route.method, concretePath(route.url), credential, BODIES[route.url]);
      t.equal(answer.status, 401, `${who}: ${route.method} ${route.url}`);
      t.equal(answer.challenge, 'Bearer', `${who}: ${route.method} ${route.url} names the Bearer scheme`);
      if (route.method !== 'HEAD') t.equal(messageOf(answer.body), 'unauthorized', `${who}: ${route.method} ${route.url} says unauthorized`);
    }
  }
  const forwarded = await ask('POST', '/api/generate', undefined, BODIES['/api/generate'], { [FORWARDED_HEADER]: 'some-node' });
  t.equal(forwarded.status, 401, 'a request marked as forwarded still needs credentials');
  t.equal(engineCalls, before, 'the engine was never called');
});

t.test('each role reaches exactly the routes its permissions allow', async (t) => {
  const grants = { readonly: ['read'], user: ['read', 'inference'], admin: ['read', 'inference', 'write', 'admin'] };
  for (const [role, permissions] of Object.entries(grants) as [keyof typeof grants, string[]][]) {
    for (const route of secured) {
      const calls = engineCalls;
      const answer = await ask(route.method, concretePath(route.url), tokens[role], BODIES[route.url]);
      const label = `${role}: ${route.method} ${route.url}`;
      if (permissions.includes(route.permission)) {
        t.notOk([401, 403].includes(answer.status), `${label} passes auth (${answer.status})`);
        if (route.permission === 'inference') t.ok(engineCalls > calls, `${label} ran the model`);
      } else {
        t.equal(answer.status, 403, label);
        if (route.method !== 'HEAD') t.match(messageOf(answer.body), new RegExp(`^forbidden: 'tester' lacks the ${route.permission} permission`), `${label} says why`);
        t.equal(engineCalls, calls, `${label} reached no engine`);
      }
    }
  }
});

t.test('user cannot delete models or make keys; admin can', async (t) => {
  t.equal((await ask('DELETE', '/api/delete', tokens.user, { model: MODEL })).status, 403);
  t.equal((await ask('POST', '/api/v1/keys', tokens.user, { name: 'mine', role: 'admin' })).status, 403);
  t.equal((await ask('POST', '/api/show', tokens.user, { model: MODEL })).status, 200, 'the model is still there');
  const made = await ask('POST', '/api/v1/keys', tokens.admin, { name: 'ops', role: 'admin' });
  t.equal(made.status, 201);
  keysMade.push(made.body.key);
  t.equal((await ask('DELETE', '/api/delete', made.body.key, { model: MODEL })).status, 200, 'an admin key deletes the model');
  t.equal((await ask('POST', '/api/show', tokens.user, { model: MODEL })).status, 404, 'it is gone');
});

t.test('no secret, token or key reaches the log', async (t) => {
  await node.stop();
  const log = readFileSync(join(dataDir, LOG_FILE), 'utf8');
  t.ok(log.length > 0, 'the node wrote a log');
  for (const [what, secret] of [['secret_key', SECRET], ...Object.entries(tokens), ...keysMade.map((k, i) => [`key ${i}`, k])] as [string, string][]) {
    t.notOk(log.includes(secret), `the log holds no ${what}`);
  }
  t.notOk(log.includes('odk_'), 'no API key at all');
});
