// Signs HS256 tokens with the cluster's secret, for `ollama-distributed token create`: a node that
// holds the same secret_key accepts them.

import { createHmac } from 'node:crypto';

export interface TokenClaims {
  sub: string;
  role: string;
  iss?: string;
  aud?: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
}

const segment = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function signHs256(claims: TokenClaims, secret: string): string {
  const input = `${segment({ alg: 'HS256', typ: 'JWT' })}.${segment(claims)}`;
  return `${input}.${createHmac('sha256', Buffer.from(secret, 'utf8')).update(input).digest('base64url')}`;
}
