// API keys: random `odk_` secrets shown once to their creator; the cluster state keeps only each
// one's sha256, so every node can check a key and none can give it back.

import { createHash, randomBytes } from 'node:crypto';
import type { ApiKeyRecord, ClusterState } from './state-machine.js';

export const API_KEY_PREFIX = 'odk_';
/** 256 bits of secret: far past guessing, so a plain sha256 (no slow hash) protects it at rest. */
const SECRET_BYTES = 32;
const ID_BYTES = 8;

export const isApiKeyId = (id: string) => id.length === ID_BYTES * 2 && /^[0-9a-f]+$/.test(id);

export function newApiKey(): { id: string; secret: string } {
  return { id: randomBytes(ID_BYTES).toString('hex'), secret: `${API_KEY_PREFIX}${randomBytes(SECRET_BYTES).toString('base64url')}` };
}

export function apiKeyHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export const looksLikeApiKey = (credential: string) => credential.startsWith(API_KEY_PREFIX);

/** A key as listed to an admin: never its hash. */
export function apiKeyEntry(record: Omit<ApiKeyRecord, 'hash'>) {
  return { id: record.id, name: record.name, role: record.role, created_at: record.createdAt, revoked: record.revoked };
}

/**
 * Keys by hash, rebuilt only when the applied state changed: a lookup on the request path is one
 * sha256 and one map read, and a revoke applied here takes effect on the next request.
 */
export class ApiKeyIndex {
  private byHash = new Map<string, ApiKeyRecord>();
  private builtAt = -1;

  constructor(private readonly state: () => { state: ClusterState; index: number }) {}

  find(secret: string): ApiKeyRecord | undefined {
    const { state, index } = this.state();
    if (index !== this.builtAt) {
      this.byHash = new Map(Object.values(state.apiKeys).map((record) => [record.hash, record]));
      this.builtAt = index;
    }
    return this.byHash.get(apiKeyHash(secret));
  }
}
