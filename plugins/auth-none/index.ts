// No authentication: every caller is anonymous with every permission. Used when
// security.auth.enabled is false; the node then warns unless it listens on loopback only.

import type { Authenticator, Identity } from '../../core/contracts/auth.js';
import type { PluginMeta } from '../../core/contracts/plugin.js';

export const meta = { name: 'none', kind: 'auth', provides: ['auth'], requires: [] } as const satisfies PluginMeta;

const ANONYMOUS: Identity = Object.freeze({ subject: 'anonymous', roles: ['admin'], via: 'anonymous' });

export function none(_init?: unknown) {
  return (): Authenticator => ({
    name: meta.name,
    enforcing: false,
    authenticate: async () => ANONYMOUS,
    authorize: () => true,
  });
}

export default none;
