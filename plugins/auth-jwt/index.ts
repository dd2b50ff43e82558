// JWT and API-key authentication with roles: a caller sends `Authorization: Bearer <credential>`
// (what Ollama's and OpenAI's clients send for OLLAMA_API_KEY / OPENAI_API_KEY), where the
// credential is an `odk_` API key agreed through consensus or a JWT signed by a configured key.

import type { AuthRequest, Authenticator, Identity, Permission } from '../../core/contracts/auth.js';
import type { Consensus } from '../../core/contracts/consensus.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';
import type { RoleConfig } from '../../core/config/schema.js';
import { ApiKeyIndex, looksLikeApiKey } from '../../core/cluster/api-keys.js';
import type { ClusterState } from '../../core/cluster/state-machine.js';
import { verifyJwt } from './jws.js';
import { verificationKeys, type KeySources } from './keys.js';
import { roleTable, rolesAllow } from './roles.js';

export const meta = { name: 'jwt', kind: 'auth', provides: ['auth'], requires: ['consensus'] } as const satisfies PluginMeta;

export interface JwtInit extends KeySources {
  issuer: string;
  audience: string;
  roles: RoleConfig[];
}

export interface JwtComponents {
  consensus: Pick<Consensus<ClusterState>, 'state' | 'read'>;
}

/** How long a request with a key this node does not know waits for the cluster's latest state. */
const CATCH_UP_MS = 1000;

/**
 * A key this node has not applied yet may have been made a moment ago on another node: one
 * linearizable read settles it. Every miss while a read runs waits for the next one, which starts
 * after the miss, so a burst of unknown keys costs at most two reads at a time.
 */
function catchUp(read: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const round: Promise<void> = read().then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (running === round) running = undefined;
    });
    return (running = round);
  };
  return () => {
    if (!running) return start();
    next ??= running.then(() => {
      next = undefined;
      return start();
    });
    return next;
  };
}

/** The credential of `Authorization: Bearer <credential>`, or of Anthropic's `x-api-key`. */
export function bearerCredential(headers: AuthRequest['headers']): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return match?.[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

/** A token's roles: a `roles` list, or one `role`. */
function claimedRoles(claims: { role?: unknown; roles?: unknown }): string[] {
  if (Array.isArray(claims.roles)) return claims.roles.filter((role): role is string => typeof role === 'string');
  return typeof claims.role === 'string' ? [claims.role] : [];
}

export function jwt(init: JwtInit) {
  const keys = verificationKeys(init);
  const roles = roleTable(init.roles);
  return (components: JwtComponents): Authenticator => {
    const { consensus } = components;
    const apiKeys = new ApiKeyIndex(() => consensus.state());
    const caughtUp = catchUp(() => consensus.read(AbortSignal.timeout(CATCH_UP_MS)));
    return {
      name: meta.name,
      enforcing: true,
      async authenticate(request: AuthRequest): Promise<Identity | undefined> {
        const credential = bearerCredential(request.headers);
        if (!credential) return undefined;
        if (looksLikeApiKey(credential)) {
          let record = apiKeys.find(credential);
          if (!record) {
            await caughtUp();
            record = apiKeys.find(credential);
          }
          return record && !record.revoked ? { subject: `key:${record.id}`, roles: [record.role], via: 'api-key' } : undefined;
        }
        const verified = verifyJwt(credential, keys, { issuer: init.issuer, audience: init.audience, now: Date.now() / 1000 });
        if ('problem' in verified) return undefined;
        const subject = typeof verified.claims.sub === 'string' ? verified.claims.sub : 'jwt';
        return { subject, roles: claimedRoles(verified.claims), via: 'jwt' };
      },
      authorize: (identity: Identity, permission: Permission) => rolesAllow(roles, identity.roles, permission),
    };
  };
}

export default jwt;
