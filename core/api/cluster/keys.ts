// The cluster's API keys: POST /api/v1/keys makes one for a role and shows its secret once,
// GET /api/v1/keys lists them without secrets or hashes, DELETE /api/v1/keys/:id revokes one.
// Each change goes through consensus, so every node accepts a new key, and refuses a revoked one,
// as soon as it applies the command.

import type { FastifyInstance } from 'fastify';
import { apiKeyEntry, apiKeyHash, isApiKeyId, newApiKey } from '../../cluster/api-keys.js';
import { badRequest, ProductError } from '../../errors.js';
import type { ApiDeps } from '../deps.js';

const MAX_NAME = 128;

const keyNotFound = (id: string) => new ProductError('OD_ERR_KEY_NOT_FOUND', `key '${id.slice(0, 64)}' not found`);

function refusal(result: unknown): string | undefined {
  return result && typeof result === 'object' && 'error' in result ? String(result.error) : undefined;
}

function createRequest(body: unknown, roles: readonly string[]): { name: string; role: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('missing request body');
  const { name, role } = body as { name?: unknown; role?: unknown };
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_NAME) throw badRequest(`name is required: a string of at most ${MAX_NAME} characters`);
  if (typeof role !== 'string' || !roles.includes(role)) throw badRequest(`role must be one of ${roles.join(', ')} (security.auth.roles)`);
  return { name, role };
}

export function keyRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { consensus } = deps;
  app.post('/api/v1/keys', { config: { permission: 'admin' } }, async (request, reply) => {
    const { name, role } = createRequest(request.body, deps.config.security.auth.roles.map((r) => r.name));
    const { id, secret } = newApiKey();
    const createdAt = new Date().toISOString();
    const { result } = await consensus.propose({ type: 'key.create', payload: { id, hash: apiKeyHash(secret), role, name, createdAt } });
    const problem = refusal(result);
    if (problem) throw new ProductError('OD_ERR_CONFLICT', problem);
    return reply.code(201).send({ ...apiKeyEntry({ id, name, role, createdAt, revoked: false }), key: secret });
  });
  app.get('/api/v1/keys', { config: { permission: 'admin' } }, async () => {
    const { apiKeys } = await consensus.read();
    const keys = Object.values(apiKeys).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    return { keys: keys.map(apiKeyEntry) };
  });
  app.delete('/api/v1/keys/:id', { config: { permission: 'admin' } }, async (request) => {
    const { id } = request.params as { id: string };
    if (!isApiKeyId(id)) throw keyNotFound(id);
    const { result } = await consensus.propose({ type: 'key.revoke', payload: { id } });
    const problem = refusal(result);
    if (problem) throw keyNotFound(id);
    return { id, revoked: true };
  });
}
