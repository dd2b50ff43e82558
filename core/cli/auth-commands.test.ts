// The compiled CLI's auth commands: `token create` signs a token a node with the same secret
// accepts (and refuses bad roles, durations and missing secrets), and `keys create|list|revoke`
// manage the keys of a node with auth on, with --token or OLLAMA_API_KEY.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { verifyJwt } from '../../plugins/auth-jwt/jws.js';
import { runCli } from './client/test-cli.js';

const SECRET = randomBytes(32).toString('hex');
const cli = runCli;

const lastLine = (text: string) => text.trim().split('\n').at(-1)!;

t.test('token create prints a token signed with the secret, for the role and ttl asked', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const made = await cli(['token', 'create', '--role', 'user', '--ttl', '24h', '--subject', 'alice'], { OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET });
  t.equal(made.code, 0, made.stderr);
  const token = lastLine(made.stdout);
  const verified = verifyJwt(token, [{ alg: 'HS256', key: Buffer.from(SECRET) }], { issuer: 'ollama-distributed', audience: '', now: Date.now() / 1000 });
  t.ok('claims' in verified, 'it verifies with the secret');
  if (!('claims' in verified)) return;
  t.match(verified.claims, { sub: 'alice', role: 'user', iss: 'ollama-distributed' });
  t.ok(Math.abs((verified.claims.exp as number) - before - 86_400) <= 5, 'it expires in 24 h');
  t.notOk('claims' in verifyJwt(token, [{ alg: 'HS256', key: randomBytes(32) }], { issuer: '', audience: '', now: Date.now() / 1000 }), 'and not with another secret');
});

t.test('token create refuses a missing secret, an unknown role and a bad ttl with status 2', async (t) => {
  t.match(await cli(['token', 'create', '--role', 'user']), { code: 2, stdout: '', stderr: /secret_key .* must be set/ });
  t.match(await cli(['token', 'create', '--role', 'root'], { OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET }), { code: 2, stderr: /role 'root' is not one of admin, user, readonly/ });
  t.match(await cli(['token', 'create', '--role', 'user', '--ttl', 'soon'], { OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET }), { code: 2, stderr: /--ttl "soon" is not a duration/ });
});

t.test('keys create, list and revoke with an admin token from token create', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET } });
  t.teardown(() => node.stop());
  const host = { OLLAMA_HOST: node.url };
  const admin = lastLine((await cli(['token', 'create', '--role', 'admin', '--ttl', '10m'], { OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET })).stdout);

  t.match(await cli(['keys', 'list'], host), { code: 1, stderr: 'Error: unauthorized\n' }, 'no token');
  const user = lastLine((await cli(['token', 'create', '--role', 'user'], { OLLAMA_SECURITY_AUTH_SECRET_KEY: SECRET })).stdout);
  t.match(await cli(['keys', 'list'], { ...host, OLLAMA_API_KEY: user }), { code: 1, stderr: /Error: forbidden: 'cli' lacks the admin permission/ }, 'a user token');

  const created = await cli(['keys', 'create', '--name', 'ci', '--role', 'readonly', '--token', admin], host);
  t.equal(created.code, 0, created.stderr);
  const key = lastLine(created.stdout);
  t.match(key, /^odk_/);
  const id = /key ([0-9a-f]{16})/.exec(created.stderr)?.[1];
  t.ok(id, 'its id is printed');
  t.equal((await fetch(`${node.url}/api/tags`, { headers: { authorization: `Bearer ${key}` } })).status, 200, 'the key works');

  const listed = await cli(['keys', 'list'], { ...host, OLLAMA_API_KEY: admin });
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, new RegExp(`^ID\\s+NAME\\s+ROLE\\s+CREATED\\s+STATE\\n${id}\\s+ci\\s+readonly\\s+\\S+\\s+active\\n$`));
  t.notOk(listed.stdout.includes(key.slice(4)), 'the secret is not listed');

  t.match(await cli(['keys', 'revoke', id!, '--token', admin], host), { code: 0, stdout: `revoked key ${id}\n` });
  t.equal((await fetch(`${node.url}/api/tags`, { headers: { authorization: `Bearer ${key}` } })).status, 401, 'the key is refused');
  const json = JSON.parse((await cli(['keys', 'list', '--json', '--token', admin], host)).stdout);
  t.match(json, [{ id, name: 'ci', role: 'readonly', revoked: true }]);
  t.match(await cli(['keys', 'revoke', 'ffffffffffffffff', '--token', admin], host), { code: 1, stderr: /Error: key 'ffffffffffffffff' not found/ });
  t.match(await cli(['keys', 'create', '--name', 'x', '--role', 'root', '--token', admin], host), { code: 1, stderr: /Error: role must be one of/ });
});
