// Auth across three real node processes (sim engine, cluster key): an API key made on node-1 works
// on node-3 and, once revoked on node-1, node-3 refuses it within 1 s; a request forwarded from
// node-1 to the only holder, node-3, carries the caller's token (which node-3 checks too), through
// the official ollama and openai clients as well as plain HTTP.

import { randomBytes } from 'node:crypto';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import t from 'tap';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { FORWARDED_HEADER } from '../../core/api/forward/headers.js';
import { signHs256 } from '../../plugins/auth-jwt/sign.js';
import { startCluster, waitUntil } from '../fixtures/cluster.js';

const SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const tokenFor = (role: string) => signHs256({ sub: `${role}-caller`, role, iss: 'ollama-distributed', iat: now(), exp: now() + 3600 }, SECRET);
const ADMIN = tokenFor('admin');
const REVOKE_WITHIN_MS = 1000;

const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });
const tagsStatus = async (url: string, credential: string) => (await fetch(`${url}/api/tags`, { headers: bearer(credential) })).status;

const cluster = await startCluster({
  size: 3,
  engine: 'sim',
  clusterKey: randomBytes(32).toString('base64url'),
  token: ADMIN,
  t,
  config: () => ({ security: { auth: { enabled: true, secret_key: SECRET } } }),
});
await cluster.waitForMembers(3);
await cluster.waitForConsensus(3);
const [a, , c] = cluster.nodes;

t.test('a key made on node-1 works on node-3; revoked on node-1, node-3 refuses it within 1 s', async (t) => {
  const made = await fetch(`${a.apiUrl}/api/v1/keys`, { method: 'POST', headers: bearer(ADMIN), body: JSON.stringify({ name: 'ci', role: 'user' }) });
  t.equal(made.status, 201);
  const { id, key } = (await made.json()) as { id: string; key: string };
  const madeAt = Date.now();
  t.equal(await tagsStatus(c.apiUrl, key), 200, 'node-3 accepts it at once, even before it applied the key (it reads the latest state on a miss)');
  t.comment(`node-3 answered the new key in ${Date.now() - madeAt} ms`);
  t.equal(await tagsStatus(a.apiUrl, key), 200, 'so does node-1');

  const revoked = await fetch(`${a.apiUrl}/api/v1/keys/${id}`, { method: 'DELETE', headers: bearer(ADMIN) });
  t.equal(revoked.status, 200);
  const revokedAt = Date.now();
  t.equal(await tagsStatus(a.apiUrl, key), 401, 'node-1 refuses it at once');
  await waitUntil(async () => (await tagsStatus(c.apiUrl, key)) === 401 || undefined, { timeoutMs: 5000, intervalMs: 10, what: 'node-3 refusing the revoked key' });
  const tookMs = Date.now() - revokedAt;
  t.comment(`node-3 refused the revoked key ${tookMs} ms after node-1 revoked it`);
  t.ok(tookMs < REVOKE_WITHIN_MS, `node-3 refused it within ${REVOKE_WITHIN_MS} ms (${tookMs} ms)`);
  t.equal(await tagsStatus(cluster.nodes[1]!.apiUrl, key), 401, 'node-2 refuses it too');
});

t.test('a request forwarded from node-1 to node-3 carries the caller token; without one it reaches no node', async (t) => {
  await createTiny(c.apiUrl, 'only-c', {}, {}, bearer(ADMIN));
  const userToken = tokenFor('user');
  await waitUntil(
    async () => {
      const response = await fetch(`${a.apiUrl}/api/generate`, { method: 'POST', headers: bearer(userToken), body: JSON.stringify({ model: 'only-c', prompt: 'hi', stream: false, options: { num_predict: 2 } }) });
      return response.status === 200 ? response : undefined;
    },
    { timeoutMs: 10_000, what: 'node-1 routing only-c to node-3' },
  ).then((response) => t.equal(response.headers.get('x-served-by'), c.name, 'served by node-3'));

  const anonymous = await fetch(`${a.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'only-c', prompt: 'hi', stream: false }) });
  t.equal(anonymous.status, 401, 'no token: refused on node-1');
  t.equal(anonymous.headers.get('x-served-by'), null, 'and served nowhere');
  const readonly = await fetch(`${a.apiUrl}/api/generate`, { method: 'POST', headers: bearer(tokenFor('readonly')), body: JSON.stringify({ model: 'only-c', prompt: 'hi', stream: false }) });
  t.equal(readonly.status, 403, 'a readonly token: refused on node-1');
  const marked = await fetch(`${c.apiUrl}/api/generate`, { method: 'POST', headers: { [FORWARDED_HEADER]: a.name }, body: JSON.stringify({ model: 'only-c', prompt: 'hi', stream: false }) });
  t.equal(marked.status, 401, 'a request to node-3 that claims to be forwarded still needs a token');

  const ollama = new Ollama({ host: a.apiUrl, headers: bearer(userToken) });
  const generated = await ollama.generate({ model: 'only-c', prompt: 'hi', options: { num_predict: 2 } });
  t.equal(generated.done, true, 'the ollama client, with the token in its headers');
  await t.rejects(new Ollama({ host: a.apiUrl }).generate({ model: 'only-c', prompt: 'hi' }), /unauthorized/, 'the ollama client without a token');

  const openai = new OpenAI({ baseURL: `${a.apiUrl}/v1`, apiKey: userToken, maxRetries: 0 });
  const completion = await openai.chat.completions.create({ model: 'only-c', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  t.equal(completion.object, 'chat.completion', 'the openai client, with the token as its apiKey');
  const refused = await new OpenAI({ baseURL: `${a.apiUrl}/v1`, apiKey: 'odk_not-a-key', maxRetries: 0 }).models.list().catch((error: { status?: number }) => error);
  t.equal((refused as { status?: number }).status, 401, 'the openai client with a wrong key');
});
