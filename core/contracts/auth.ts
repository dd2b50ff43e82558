// The auth contract: who is calling and what they may do. Implementations: plugins/auth-jwt
// (JWT + API keys + roles), plugins/auth-none (no identity checks; loopback only).

import type { IncomingHttpHeaders } from 'node:http';

/** Permissions roles grant; `*` grants all. */
export const PERMISSIONS = ['read', 'inference', 'write', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface Identity {
  subject: string;
  roles: string[];
  via: 'jwt' | 'api-key' | 'anonymous';
}

export interface AuthRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  remoteAddress: string | undefined;
}

/**
 * Invariants:
 * - `authenticate` never throws for bad credentials: it returns undefined.
 * - With auth enabled, no request reaches an engine unless `authenticate` returned an identity
 *   and `authorize` allowed the route's permission.
 * - Secrets (tokens, keys) are never logged.
 */
export interface Authenticator {
  readonly name: string;
  /** True when requests must carry credentials. */
  readonly enforcing: boolean;
  authenticate(request: AuthRequest, signal?: AbortSignal): Promise<Identity | undefined>;
  authorize(identity: Identity, permission: Permission): boolean;
}
