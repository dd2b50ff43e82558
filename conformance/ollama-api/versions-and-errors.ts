// Exact-behaviour checks of the Ollama API suite on what Ollama's router and handlers answer for
// themselves (server/routes.go, gin): the version, 404 and 405, error texts, roles as they decode.

import { call, send, type Endpoint, type Json } from './index.js';

/** Ollama added /v1/responses in 0.13.3; clients gate features on the version they read. */
const MIN_VERSION = [0, 13, 3];

function versionAtLeast(version: string, min: number[]): boolean {
  const parts = version.replace(/^v/, '').split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < min.length; i++) {
    if ((parts[i] ?? 0) !== min[i]) return (parts[i] ?? 0) > min[i]!;
  }
  return true;
}

export function versionsAndErrors(endpoint: Endpoint, scratch: string): void {
  endpoint('versions, unknown routes and wrong methods', (check) => {
    check(`GET /api/version is a release at least ${MIN_VERSION.join('.')}`, async (t, { url }) => {
      const { body } = await call(url, '/api/version', undefined, 'GET');
      t.match(body.version, /^\d+\.\d+\.\d+/, 'a semantic version');
      t.ok(versionAtLeast(body.version, MIN_VERSION), `${body.version} >= ${MIN_VERSION.join('.')}`);
    });

    check("an unknown route is Gin's plain-text 404", async (t, { url }) => {
      for (const path of ['/api/nope', '/v1/nope']) {
        const response = await send(url, path, undefined, 'GET');
        t.equal(response.status, 404, path);
        t.equal(response.headers.get('content-type'), 'text/plain', `${path}: text/plain, no charset`);
        t.equal(await response.text(), '404 page not found');
      }
    });

    check('a wrong method is 405 with the methods the path allows', async (t, { url }) => {
      const cases: [string, string, string][] = [
        ['GET', '/api/chat', 'POST'],
        ['GET', '/api/generate', 'POST'],
        ['POST', '/api/tags', 'HEAD, GET'],
        ['GET', '/api/delete', 'DELETE'],
        ['HEAD', '/api/ps', 'GET'],
        ['GET', '/v1/chat/completions', 'POST'],
        ['GET', '/v1/responses', 'POST'],
        ['GET', '/v1/messages', 'POST'],
      ];
      for (const [method, path, allow] of cases) {
        const response = await send(url, path, undefined, method);
        t.equal(response.status, 405, `${method} ${path}`);
        t.equal(response.headers.get('allow'), allow, `${method} ${path}: Allow ${allow}`);
        t.equal(await response.text(), method === 'HEAD' ? '' : '405 method not allowed');
      }
    });
  });

  endpoint("the handlers' own error texts", (check) => {
    check('a missing or unknown model, worded per endpoint', async (t, { url }) => {
      const missing = `${scratch}-missing`;
      const cases: [string, Json, number, string][] = [
        ['/api/generate', { prompt: 'x' }, 404, "model '' not found"],
        ['/api/generate', { model: missing, prompt: 'x' }, 404, `model '${missing}' not found`],
        ['/api/chat', { messages: [] }, 400, 'model is required'],
        ['/api/chat', { model: missing, messages: [] }, 404, `model '${missing}' not found`],
        ['/api/embed', { input: 'x' }, 404, "model '' not found"],
        ['/api/embed', { model: missing, input: 'x' }, 404, `model "${missing}" not found, try pulling it first`],
        ['/api/embeddings', { prompt: 'x' }, 400, 'model is required'],
        ['/api/embeddings', { model: missing, prompt: 'x' }, 404, `model "${missing}" not found, try pulling it first`],
        ['/api/show', {}, 400, 'model is required'],
        ['/api/copy', { source: missing, destination: `${scratch}-other` }, 404, `model "${missing}" not found`],
        ['/api/generate', { model: 'bad name!', prompt: 'x' }, 400, 'invalid model name'],
      ];
      for (const [path, body, status, error] of cases) {
        t.same(await call(url, path, body), { status, type: 'application/json; charset=utf-8', body: { error } }, `${path} ${JSON.stringify(body)}`);
      }
      const deleted = await call(url, '/api/delete', { model: '' }, 'DELETE');
      t.same([deleted.status, deleted.body], [400, { error: 'model is required' }], 'delete without a name');
    });

    check('top_logprobs outside 0..20 is refused before the model is looked up', async (t, { url }) => {
      const missing = `${scratch}-missing`;
      for (const [path, body] of [
        ['/api/generate', { model: missing, prompt: 'x', top_logprobs: 21 }],
        ['/api/chat', { model: missing, messages: [], top_logprobs: -1 }],
      ] as const) {
        const got = await call(url, path, body);
        t.same([got.status, got.body], [400, { error: 'top_logprobs must be between 0 and 20' }], path);
      }
    });

    check('on /v1, each route words a missing model as the handler behind it', async (t, { url }) => {
      const missing = `${scratch}-missing`;
      const cases: [string, Json, string][] = [
        ['/v1/completions', { prompt: 'x' }, "model '' not found"],
        ['/v1/embeddings', { model: missing, input: 'x' }, `model "${missing}" not found, try pulling it first`],
        ['/v1/responses', { model: missing, input: 'x' }, `model '${missing}' not found`],
      ];
      for (const [path, body, message] of cases) {
        const got = await call(url, path, body);
        t.same([got.status, got.body], [404, { error: { message, type: 'not_found_error', param: null, code: null } }], path);
      }
    });
  });

  endpoint('/api/chat roles', (check) => {
    check('a role in capitals is the same role: its content reaches the prompt', async (t, { url, model }) => {
      // A byte-level vocabulary makes every character a token: the content alone is this many.
      const content = `${scratch} ${'abcdefghij'.repeat(60)}`;
      const got = await call(url, '/api/chat', { model, messages: [{ role: 'USER', content }], stream: false, options: { num_predict: 1, num_ctx: 4096 } });
      t.equal(got.status, 200);
      t.ok(got.body.prompt_eval_count >= content.length, `prompt_eval_count ${got.body.prompt_eval_count} counts the ${content.length} characters`);
    });
  });
}
