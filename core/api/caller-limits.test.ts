// Per-caller limits: the bucket's arithmetic as pure cases, then a real node with auth on that
// answers 429 in Ollama's shape to the caller past its limit and serves every other caller.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { signHs256 } from '../../plugins/auth-jwt/sign.js';
import { createTiny } from './ollama/test-support.js';
import { CallerLimits } from './caller-limits.js';

t.test('a rate of 60 a minute: a burst of 60, then one a second', async (t) => {
  const limits = new CallerLimits({ ratePerMinute: 60, maxInFlight: 0 });
  for (let i = 0; i < 60; i++) limits.admit('a', 1000).admitted || t.fail(`request ${i} refused`);
  const refused = limits.admit('a', 1000);
  t.match(refused, { admitted: false, reason: /at most 60 requests a minute/, retryAfterS: 1 });
  t.ok(limits.admit('b', 1000).admitted, 'another caller has its own bucket');
  t.notOk(limits.admit('a', 1500).admitted, 'half a token after 0.5 s');
  t.ok(limits.admit('a', 2000).admitted, 'a whole one after 1 s');
  t.notOk(limits.admit('a', 2000).admitted);
  t.ok(limits.admit('a', 62_000).admitted, 'refilled after a minute');
});

t.test('retry-after for a slow rate', async (t) => {
  const limits = new CallerLimits({ ratePerMinute: 2, maxInFlight: 0 });
  limits.admit('a', 0);
  limits.admit('a', 0);
  t.match(limits.admit('a', 0), { admitted: false, retryAfterS: 30 });
  t.match(limits.admit('a', 20_000), { admitted: false, retryAfterS: 10 });
});

t.test('in flight: a cap, freed once each request ends, released once only', async (t) => {
  const limits = new CallerLimits({ ratePerMinute: 0, maxInFlight: 2 });
  const first = limits.admit('a', 0);
  const second = limits.admit('a', 0);
  t.match(limits.admit('a', 0), { admitted: false, reason: /at most 2 at once/ });
  if (!first.admitted || !second.admitted) return t.fail('the first two are admitted');
  first.release();
  first.release();
  t.ok(limits.admit('a', 0).admitted, 'one freed slot');
  t.notOk(limits.admit('a', 0).admitted, 'a second release freed nothing more');
});

t.test('callers are bounded; one with requests running is never forgotten', async (t) => {
  const limits = new CallerLimits({ ratePerMinute: 0, maxInFlight: 1, maxCallers: 3 });
  const busy = limits.admit('busy', 0);
  for (const id of ['a', 'b', 'c', 'd', 'e']) {
    const admitted = limits.admit(id, 0);
    if (admitted.admitted) admitted.release();
  }
  t.ok(limits.size <= 4, `${limits.size} tracked`);
  t.notOk(limits.admit('busy', 0).admitted, 'the busy caller still counts its running request');
  t.ok(busy.admitted);
  t.notOk(new CallerLimits({ ratePerMinute: 0, maxInFlight: 0 }).enabled, 'zero means off');
});

t.test('a node with auth on answers 429 with Retry-After to the caller past its limits', async (t) => {
  const secret = randomBytes(32).toString('hex');
  const now = Math.floor(Date.now() / 1000);
  const token = (sub: string, role = 'user') => signHs256({ sub, role, iss: 'ollama-distributed', iat: now, exp: now + 600 }, secret);
  const node = await startTestNode({
    env: { OLLAMA_ENGINE: 'sim', OLLAMA_SECURITY_AUTH_ENABLED: 'true', OLLAMA_SECURITY_AUTH_SECRET_KEY: secret, OLLAMA_SECURITY_AUTH_RATE_LIMIT: '3', OLLAMA_SECURITY_AUTH_MAX_IN_FLIGHT: '1' },
  });
  t.teardown(() => node.stop());
  const tags = (credential: string) => fetch(`${node.url}/api/tags`, { headers: { authorization: `Bearer ${credential}` } });
  const alice = token('alice');
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await tags(alice)).status);
  t.strictSame(statuses, [200, 200, 200, 429], 'three a minute, then refused');
  const refused = await tags(alice);
  t.equal(refused.status, 429);
  t.match(refused.headers.get('retry-after'), /^\d+$/);
  t.match(await refused.json(), { error: /rate limit exceeded: at most 3 requests a minute for 'alice'; try again in \d+ s/ });
  t.equal((await tags(token('bob'))).status, 200, 'another caller is served');
  t.equal((await fetch(`${node.url}/api/version`)).status, 200, 'open routes are not limited');

  await createTiny(node.url, 'tiny', {}, {}, { authorization: `Bearer ${token('admin', 'admin')}` });
  const carol = token('carol');
  const running = await fetch(`${node.url}/api/generate`, { method: 'POST', headers: { authorization: `Bearer ${carol}` }, body: JSON.stringify({ model: 'tiny', prompt: 'long', options: { num_predict: 200 } }) });
  t.equal(running.status, 200, 'a stream runs');
  const second = await tags(carol);
  t.equal(second.status, 429, 'a second request while it runs is refused');
  t.match(await second.json(), { error: /too many requests in flight: at most 1 at once/ });
  await running.arrayBuffer();
  let after = 0;
  for (let i = 0; i < 50 && after !== 200; i++) {
    after = (await tags(carol)).status;
    if (after !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.equal(after, 200, 'once the stream ended the caller is served again');
});
