// The audit log of a real node with auth on: admin actions and refused credentials, each with who,
// what, when and from where, in a file only its owner reads; no token, key, prompt or body in it.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { waitUntil } from '../../conformance/fixtures/cluster.js';
import { signHs256 } from '../../plugins/auth-jwt/sign.js';
import { createTiny } from '../api/ollama/test-support.js';
import { auditPath } from './audit-log.js';

const SECRET = randomBytes(32).toString('hex');
const now = () => Math.floor(Date.now() / 1000);
const tokenFor = (role: string, secret = SECRET) => signHs256({ sub: `${role}-caller`, role, iss: 'ollama-distributed', iat: now(), exp: now() + 600 }, secret);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const PROMPT = 'a prompt that must never be audited';

t.test('auditPath drops the query string', async (t) => {
  t.equal(auditPath('/api/tags?token=abc'), '/api/tags');
  t.equal(auditPath('/api/v1/keys/k1'), '/api/v1/keys/k1');
});

t.test('admin actions and refusals are audited; inference and secrets are not', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET } });
  t.teardown(() => node.stop());
  const file = join(node.dataDir, 'audit.log');
  const admin = tokenFor('admin');
  const user = tokenFor('user');
  const forged = tokenFor('admin', randomBytes(32).toString('hex'));

  await createTiny(node.url, 'tiny', {}, {}, bearer(admin));
  const made = await fetch(`${node.url}/api/v1/keys`, { method: 'POST', headers: bearer(admin), body: JSON.stringify({ name: 'ci', role: 'user' }) });
  const { key } = (await made.json()) as { key: string };
  t.equal((await fetch(`${node.url}/api/generate`, { method: 'POST', headers: bearer(user), body: JSON.stringify({ model: 'tiny', prompt: PROMPT, stream: false }) })).status, 200);
  t.equal((await fetch(`${node.url}/api/tags?secret=x`)).status, 401);
  t.equal((await fetch(`${node.url}/api/tags`, { headers: bearer(forged) })).status, 401);
  t.equal((await fetch(`${node.url}/api/delete`, { method: 'DELETE', headers: bearer(user), body: JSON.stringify({ model: 'tiny' }) })).status, 403);
  t.equal((await fetch(`${node.url}/api/delete`, { method: 'DELETE', headers: bearer(key), body: JSON.stringify({ model: 'tiny' }) })).status, 403);

  const entries = await waitUntil(() => {
    const lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    return lines.filter((e) => e.event === 'auth.refused').length >= 4 ? lines : undefined;
  }, { timeoutMs: 5000, what: 'the audit entries on disk' });
  const text = readFileSync(file, 'utf8');

  const admins = entries.filter((e) => e.event === 'admin');
  t.ok(admins.some((e) => e.method === 'POST' && e.path === '/api/create' && e.subject === 'admin-caller' && e.status === 200), 'create, by whom');
  t.ok(admins.some((e) => e.path === '/api/v1/keys' && e.status === 201 && e.via === 'jwt'), 'key creation');
  t.notOk(entries.some((e) => e.path === '/api/generate'), 'inference is not an admin action');
  const refused = entries.filter((e) => e.event === 'auth.refused');
  t.strictSame(refused.slice(0, 3).map((e) => [e.status, e.path, e.subject ?? null]), [
    [401, '/api/tags', null],
    [401, '/api/tags', null],
    [403, '/api/delete', 'user-caller'],
  ]);
  t.match(refused[3], { status: 403, path: '/api/delete', via: 'api-key', subject: String }, 'the key caller is named by its key, not its secret');
  for (const entry of entries) {
    t.match(entry.time, /^\d{4}-\d\d-\d\dT/, 'when');
    t.match(entry.remote, /127\.0\.0\.1/, 'from where');
  }
  for (const secret of [admin, user, forged, key, SECRET, PROMPT, 'secret=x']) t.notOk(text.includes(secret), `the log holds no ${secret.slice(0, 12)}…`);
  t.equal(statSync(file).mode & 0o777, 0o600, 'only its owner reads it');
});
