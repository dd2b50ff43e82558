// Verifies a compact JWT (RFC 7519) with node:crypto: the header's alg must be one this node holds
// a key for (never `none`, never an HMAC over a public key), then the signature, then exp, nbf, iss, aud.

import { createHmac, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

export const ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** A key that verifies one algorithm; `kid` names it in a JWKS. */
export interface VerificationKey {
  alg: Algorithm;
  key: KeyObject | Buffer;
  kid?: string;
}

export interface Claims {
  sub?: unknown;
  iss?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  role?: unknown;
  roles?: unknown;
  [claim: string]: unknown;
}

export interface Expectations {
  /** Required iss; empty accepts any. */
  issuer: string;
  /** Required in aud; empty accepts any. */
  audience: string;
  /** Seconds since the epoch. */
  now: number;
}

/** Clocks of the issuer and this node may differ this much, as most JWT libraries allow. */
const CLOCK_TOLERANCE_S = 30;
const MAX_TOKEN_LENGTH = 16_384;
const SEGMENT = /^[A-Za-z0-9_-]*$/;

export type Verified = { claims: Claims } | { problem: string };

function decodeJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function signatureHolds(alg: Algorithm, key: KeyObject | Buffer, input: Buffer, signature: Buffer): boolean {
  switch (alg) {
    case 'HS256': {
      const expected = createHmac('sha256', key).update(input).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    case 'RS256':
      return verify('sha256', input, key as KeyObject, signature);
    case 'ES256':
      // JWS carries r || s (64 bytes), not DER.
      return signature.length === 64 && verify('sha256', input, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
      return verify(null, input, key as KeyObject, signature);
  }
}

/** A signature of the wrong shape for its key makes node:crypto throw: that is a signature that does not hold. */
function holdsSafely(alg: Algorithm, key: KeyObject | Buffer, input: Buffer, signature: Buffer): boolean {
  try {
    return signatureHolds(alg, key, input, signature);
  } catch {
    return false;
  }
}

function claimsProblem(claims: Claims, expect: Expectations): string | undefined {
  const { now } = expect;
  if (claims.exp !== undefined && typeof claims.exp !== 'number') return 'exp is not a number';
  if (typeof claims.exp === 'number' && now > claims.exp + CLOCK_TOLERANCE_S) return 'the token expired';
  if (claims.nbf !== undefined && typeof claims.nbf !== 'number') return 'nbf is not a number';
  if (typeof claims.nbf === 'number' && now + CLOCK_TOLERANCE_S < claims.nbf) return 'the token is not valid yet';
  if (expect.issuer && claims.iss !== expect.issuer) return 'the token has another issuer';
  if (expect.audience) {
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(expect.audience)) return 'the token is for another audience';
  }
  return undefined;
}

/** The claims of `token` when a key in `keys` signed it and they hold now; else why not (never the token). */
export function verifyJwt(token: string, keys: readonly VerificationKey[], expect: Expectations): Verified {
  if (token.length > MAX_TOKEN_LENGTH) return { problem: 'the token is too long' };
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => SEGMENT.test(part))) return { problem: 'the token is not a compact JWS' };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  const claims = decodeJson(payloadPart) as Claims | undefined;
  if (!header || !claims) return { problem: 'the token header or payload is not a JSON object' };
  if (header.crit !== undefined) return { problem: 'the token names critical extensions' };
  const alg = header.alg;
  if (typeof alg !== 'string' || !(ALGORITHMS as readonly string[]).includes(alg)) return { problem: `algorithm ${JSON.stringify(alg)} is not accepted` };
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = keys.filter((k) => k.alg === alg && (kid === undefined || k.kid === undefined || k.kid === kid));
  if (candidates.length === 0) return { problem: `no key verifies ${alg}${kid ? ` with kid ${JSON.stringify(kid)}` : ''}` };
  const input = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  const signature = Buffer.from(signaturePart, 'base64url');
  if (!candidates.some((k) => holdsSafely(alg as Algorithm, k.key, input, signature))) return { problem: 'the signature does not hold' };
  const problem = claimsProblem(claims, expect);
  return problem ? { problem } : { claims };
}
