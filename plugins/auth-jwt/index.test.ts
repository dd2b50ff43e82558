import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { anyJson, fuzz } from '../../conformance/fixtures/fuzz.js';
import { apiKeyHash, newApiKey } from '../../core/cluster/api-keys.js';
import { clusterStateMachine, type ClusterState } from '../../core/cluster/state-machine.js';
import type { Authenticator } from '../../core/contracts/auth.js';
import { bearerCredential, jwt, type JwtInit } from './index.js';
import { verifyJwt } from './jws.js';

const SECRET = 'k'.repeat(48);
const ROLES = [
  { name: 'admin', permissions: ['*'] },
  { name: 'user', permissions: ['read', 'inference'] },
  { name: 'readonly', permissions: ['read'] },
  { name: 'publisher', permissions: ['read', 'write'] },
];
const dir = mkdtempSync(join(tmpdir(), 'od-auth-jwt-'));
const now = () => Math.floor(Date.now() / 1000);

/** Signs the way any JWT library does, independently of the code under test. */
function token(header: Record<string, unknown>, claims: Record<string, unknown>, key: Buffer | KeyObject | undefined): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64(header)}.${b64(claims)}`;
  const data = Buffer.from(input);
  const alg = header.alg;
  const signature =
    alg === 'HS256'
      ? createHmac('sha256', key as Buffer).update(data).digest()
      : alg === 'RS256'
        ? sign('sha256', data, key as KeyObject)
        : alg === 'ES256'
          ? sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' })
          : alg === 'EdDSA'
            ? sign(null, data, key as KeyObject)
            : Buffer.alloc(0);
  return `${input}.${signature.toString('base64url')}`;
}

const hs = (claims: Record<string, unknown>, secret = SECRET) => token({ alg: 'HS256', typ: 'JWT' }, claims, Buffer.from(secret));
const valid = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', role: 'user', iss: 'ollama-distributed', iat: now(), exp: now() + 600, ...extra });

function authenticator(init: Partial<JwtInit> = {}, state: ClusterState = clusterStateMachine.initial(), index = () => 1): Authenticator {
  const full: JwtInit = { secret_key: SECRET, public_key_file: '', jwks_file: '', issuer: 'ollama-distributed', audience: '', roles: ROLES, ...init };
  return jwt(full)({ consensus: { state: () => ({ state, index: index() }), read: async () => state } });
}

const bearer = (credential: string, scheme = 'Bearer') => ({ method: 'GET', path: '/api/tags', headers: { authorization: `${scheme} ${credential}` }, remoteAddress: '127.0.0.1' });

t.test('an HS256 token signed with secret_key gives its subject and role', async (t) => {
  const auth = authenticator();
  t.same(await auth.authenticate(bearer(hs(valid()))), { subject: 'alice', roles: ['user'], via: 'jwt' });
  t.same((await auth.authenticate(bearer(hs(valid({ role: undefined, roles: ['readonly', 'publisher'] })))))?.roles, ['readonly', 'publisher']);
  t.ok(await auth.authenticate(bearer(hs(valid()), 'bearer')), 'the scheme is case-insensitive');
  t.ok(await auth.authenticate({ ...bearer(''), headers: { 'x-api-key': hs(valid()) } }), "Anthropic's x-api-key header carries it too");
});

t.test('forged, expired, early, foreign and malformed tokens give no identity', async (t) => {
  const auth = authenticator({ audience: 'cluster-a' });
  const good = valid({ aud: 'cluster-a' });
  t.ok(await auth.authenticate(bearer(hs(good))), 'the baseline token is accepted');
  const refused: [string, string][] = [
    ['another secret', hs(good, 'x'.repeat(48))],
    ['alg none', token({ alg: 'none', typ: 'JWT' }, good, undefined)],
    ['alg none without a signature segment', token({ alg: 'none' }, good, undefined).replace(/\.$/, '')],
    ['alg HS512', token({ alg: 'HS512' }, good, Buffer.from(SECRET))],
    ['expired', hs({ ...good, exp: now() - 120 })],
    ['not valid yet', hs({ ...good, nbf: now() + 600 })],
    ['exp not a number', hs({ ...good, exp: 'tomorrow' })],
    ['another issuer', hs({ ...good, iss: 'evil' })],
    ['no issuer', hs({ ...good, iss: undefined })],
    ['another audience', hs({ ...good, aud: 'cluster-b' })],
    ['critical extension', token({ alg: 'HS256', crit: ['b64'] }, good, Buffer.from(SECRET))],
    ['garbage', 'not-a-token'],
    ['four segments', `${hs(good)}.x`],
    ['payload not JSON', `${hs(good).split('.')[0]}.${Buffer.from('nope').toString('base64url')}.${hs(good).split('.')[2]}`],
    ['tampered payload', (() => { const [h, , s] = hs(good).split('.'); return `${h}.${Buffer.from(JSON.stringify({ ...good, role: 'admin' })).toString('base64url')}.${s}`; })()],
  ];
  for (const [what, credential] of refused) t.equal(await auth.authenticate(bearer(credential)), undefined, what);
  t.equal(await auth.authenticate({ ...bearer(''), headers: {} }), undefined, 'no header');
  t.equal(await auth.authenticate(bearer(hs(good), 'Basic')), undefined, 'another scheme');
  t.ok(await auth.authenticate(bearer(hs({ ...good, aud: ['x', 'cluster-a'] }))), 'aud may be a list holding ours');
});

t.test('RS256, ES256 and EdDSA verify with a PEM public key or a JWKS, each only with its own algorithm', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const rsaPem = join(dir, 'rsa.pem');
  writeFileSync(rsaPem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', alg: 'ES256' }, { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed-1' }] }));
  const auth = authenticator({ secret_key: '', public_key_file: rsaPem, jwks_file: jwks });

  t.ok(await auth.authenticate(bearer(token({ alg: 'RS256' }, valid(), rsa.privateKey))), 'RS256 with the PEM key');
  t.ok(await auth.authenticate(bearer(token({ alg: 'ES256', kid: 'ec-1' }, valid(), ec.privateKey))), 'ES256 from the JWKS');
  t.ok(await auth.authenticate(bearer(token({ alg: 'EdDSA', kid: 'ed-1' }, valid(), ed.privateKey))), 'EdDSA from the JWKS');
  t.ok(await auth.authenticate(bearer(token({ alg: 'EdDSA' }, valid(), ed.privateKey))), 'a token without kid tries the keys of its algorithm');

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const refused: [string, string][] = [
    ['RS256 by another key', token({ alg: 'RS256' }, valid(), other.privateKey)],
    ['HS256 over the RSA public key (algorithm confusion)', token({ alg: 'HS256' }, valid(), Buffer.from(pem))],
    ['HS256 with no secret configured', hs(valid())],
    ['ES256 naming the Ed25519 kid', token({ alg: 'ES256', kid: 'ed-1' }, valid(), ec.privateKey)],
    ['an unknown kid', token({ alg: 'ES256', kid: 'ec-2' }, valid(), ec.privateKey)],
    ['ES256 in DER instead of r||s', (() => { const t0 = token({ alg: 'RS256' }, valid(), rsa.privateKey).split('.'); const der = sign('sha256', Buffer.from(`${Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url')}.${t0[1]}`), ec.privateKey); return `${Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url')}.${t0[1]}.${der.toString('base64url')}`; })()],
    ['EdDSA with a short signature', `${token({ alg: 'EdDSA' }, valid(), ed.privateKey).slice(0, -10)}`],
  ];
  for (const [what, credential] of refused) t.equal(await auth.authenticate(bearer(credential)), undefined, what);
});

t.test('a key file that holds no usable key is a config error naming the key', async (t) => {
  const bad = join(dir, 'bad.pem');
  writeFileSync(bad, 'not a key');
  t.throws(() => authenticator({ public_key_file: bad }), /security\.auth\.public_key_file/);
  const dsaJwks = join(dir, 'wrong-alg.json');
  writeFileSync(dsaJwks, JSON.stringify({ keys: [{ ...generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }), alg: 'RS256' }] }));
  t.throws(() => authenticator({ jwks_file: dsaJwks }), /security\.auth\.jwks_file.*keys\[0\] says alg RS256/);
  const p384 = join(dir, 'p384.pem');
  writeFileSync(p384, generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }));
  t.throws(() => authenticator({ public_key_file: p384 }), /accepted: RSA, EC P-256, Ed25519/);
});

t.test('an API key from the cluster state is accepted until it is revoked', async (t) => {
  let state = clusterStateMachine.initial();
  let index = 0;
  const apply = (type: string, payload: unknown) => {
    index += 1;
    ({ state } = clusterStateMachine.apply(state, { type, payload }, index));
  };
  const key = newApiKey();
  let reads = 0;
  /** A linearizable read: what the leader committed, applied here before it returns. */
  let committed: (() => void) | undefined;
  const read = async () => {
    reads += 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    committed?.();
    committed = undefined;
    return state;
  };
  const auth = jwt({ secret_key: SECRET, public_key_file: '', jwks_file: '', issuer: '', audience: '', roles: ROLES })({ consensus: { state: () => ({ state, index }), read } });
  t.equal(await auth.authenticate(bearer(key.secret)), undefined, 'unknown before it is created');
  t.equal(reads, 1, 'after one read of the latest state');

  const other = newApiKey();
  committed = () => apply('key.create', { id: other.id, hash: apiKeyHash(other.secret), role: 'user', name: 'fresh', createdAt: new Date().toISOString() });
  reads = 0;
  const burst = await Promise.all([auth.authenticate(bearer(other.secret)), ...Array.from({ length: 20 }, () => auth.authenticate(bearer(`odk_${'x'.repeat(43)}`)))]);
  t.match(burst[0], { roles: ['user'] }, 'a key committed elsewhere but not applied here yet is accepted after the read');
  t.ok(burst.slice(1).every((identity) => identity === undefined), 'unknown keys are refused');
  t.ok(reads <= 2, `21 misses at once cost ${reads} reads`);

  apply('key.create', { id: key.id, hash: apiKeyHash(key.secret), role: 'readonly', name: 'ci', createdAt: new Date().toISOString() });
  t.same(await auth.authenticate(bearer(key.secret)), { subject: `key:${key.id}`, roles: ['readonly'], via: 'api-key' });
  t.equal(await auth.authenticate(bearer(`${key.secret}x`)), undefined, 'another secret');
  apply('key.revoke', { id: key.id });
  t.equal(await auth.authenticate(bearer(key.secret)), undefined, 'refused once the revoke is applied');
});

t.test('roles grant their permissions, * grants all, an unknown role none', async (t) => {
  const auth = authenticator();
  const can = (roles: string[]) => (['read', 'inference', 'write', 'admin'] as const).filter((p) => auth.authorize({ subject: 's', roles, via: 'jwt' }, p));
  t.same(can(['admin']), ['read', 'inference', 'write', 'admin']);
  t.same(can(['user']), ['read', 'inference']);
  t.same(can(['readonly']), ['read']);
  t.same(can(['publisher']), ['read', 'write'], 'a role of the config');
  t.same(can(['readonly', 'publisher']), ['read', 'write'], 'several roles add up');
  t.same(can(['root']), [], 'a role the config does not name');
  t.same(can([]), []);
});

t.test('any credential, mutated tokens included, is a verdict and never a throw', async (t) => {
  const keys = [{ alg: 'HS256' as const, key: Buffer.from(SECRET) }];
  const expect = { issuer: 'ollama-distributed', audience: '', now: now() };
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url');
  const segment = fc.oneof(fc.string({ maxLength: 40 }), anyJson.map(b64), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64url')));
  const header = fc.oneof(
    fc.record({ alg: fc.constantFrom('HS256', 'none', 'RS256', 'ES256', 'EdDSA', 'HS512', ''), kid: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }) }).map(b64),
    segment,
  );
  const forged = fc.tuple(header, fc.oneof(anyJson.map(b64), fc.constant(b64(valid({ role: 'admin' })))), segment).map((parts) => parts.join('.'));
  const good = hs(valid());
  const mutated = fc.tuple(fc.nat({ max: good.length - 1 }), fc.string({ minLength: 1, maxLength: 3 })).map(([at, text]) => good.slice(0, at) + text + good.slice(at + text.length));
  // base64url's last character carries spare bits: an edit there may decode to the same bytes.
  const bytesOf = (token: string) => token.split('.').map((part) => Buffer.from(part, 'base64url').toString('hex')).join('.');
  fuzz(t, 'verifyJwt accepts no forged or altered token, and throws on none', fc.oneof(forged, mutated, fc.string({ maxLength: 300 })), (credential) => {
    const verdict = verifyJwt(credential, keys, expect);
    if ('claims' in verdict && bytesOf(credential) !== bytesOf(good)) throw new Error(`accepted ${credential}`);
  });
  fuzz(t, 'bearerCredential reads any header value without throwing', fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })), (value) => {
    bearerCredential({ authorization: value as string });
  });
});
