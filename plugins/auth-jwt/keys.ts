// The keys a node verifies tokens with, from its config: the HMAC secret (HS256), a PEM public key
// and a JWKS file. Each key verifies only the algorithm of its type, so an RSA public key can never
// be used as an HMAC secret.

import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ProductError } from '../../core/errors.js';
import type { Algorithm, VerificationKey } from './jws.js';

export interface KeySources {
  secret_key: string;
  public_key_file: string;
  jwks_file: string;
}

const configError = (key: string, message: string) => new ProductError('OD_ERR_CONFIG', `${key}: ${message}`);

/** The one algorithm a public key verifies, by its type (and curve). */
export function algorithmOf(key: KeyObject): Algorithm | undefined {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function publicKeyFrom(file: string): VerificationKey {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(file));
  } catch (error) {
    throw configError('security.auth.public_key_file', `cannot read a PEM public key from ${file} (${(error as Error).message})`);
  }
  const alg = algorithmOf(key);
  if (!alg) throw configError('security.auth.public_key_file', `${file} holds a ${key.asymmetricKeyType} key; accepted: RSA, EC P-256, Ed25519`);
  return { alg, key };
}

function jwksFrom(file: string): VerificationKey[] {
  let parsed: { keys?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
  } catch (error) {
    throw configError('security.auth.jwks_file', `cannot read JSON from ${file} (${(error as Error).message})`);
  }
  if (!Array.isArray(parsed?.keys) || parsed.keys.length === 0) throw configError('security.auth.jwks_file', `${file} has no "keys" list`);
  return parsed.keys.map((jwk: JsonWebKey & { alg?: string; kid?: string; use?: string }, at: number) => {
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch (error) {
      throw configError('security.auth.jwks_file', `keys[${at}] is not a public JWK (${(error as Error).message})`);
    }
    const alg = algorithmOf(key);
    if (!alg) throw configError('security.auth.jwks_file', `keys[${at}] is a ${key.asymmetricKeyType} key; accepted: RSA, EC P-256, Ed25519`);
    if (jwk.alg !== undefined && jwk.alg !== alg) throw configError('security.auth.jwks_file', `keys[${at}] says alg ${jwk.alg} but its key verifies ${alg}`);
    return { alg, key, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
  });
}

export function verificationKeys(sources: KeySources): VerificationKey[] {
  const keys: VerificationKey[] = [];
  if (sources.secret_key) keys.push({ alg: 'HS256', key: Buffer.from(sources.secret_key, 'utf8') });
  if (sources.public_key_file) keys.push(publicKeyFrom(sources.public_key_file));
  if (sources.jwks_file) keys.push(...jwksFrom(sources.jwks_file));
  return keys;
}
