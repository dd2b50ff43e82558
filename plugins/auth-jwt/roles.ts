// What each configured role may do (security.auth.roles): a role grants its permissions, `*` grants
// every one, and a role this node does not know grants nothing.

import type { Permission } from '../../core/contracts/auth.js';
import type { RoleConfig } from '../../core/config/schema.js';

export type RoleTable = ReadonlyMap<string, ReadonlySet<string>>;

export function roleTable(roles: readonly RoleConfig[]): RoleTable {
  return new Map(roles.map((role) => [role.name, new Set(role.permissions)]));
}

export function rolesAllow(table: RoleTable, roles: readonly string[], permission: Permission): boolean {
  return roles.some((role) => {
    const granted = table.get(role);
    return granted !== undefined && (granted.has('*') || granted.has(permission));
  });
}
