// `token create` signs a JWT locally with security.auth.secret_key (so the first admin token needs
// no running node and no token); `keys create|list|revoke` manage the cluster's API keys through
// the node at OLLAMA_HOST with an admin token (OLLAMA_API_KEY or --token).

import type { Command } from 'commander';
import type { apiKeyEntry } from '../cluster/api-keys.js';
import { parseDuration } from '../config/values.js';
import { signHs256 } from '../../plugins/auth-jwt/sign.js';
import { callJson } from './client/http.js';
import { reported } from './client/index.js';
import { table } from './client/format.js';
import { configOrReport, EXIT_CONFIG, type ConfigFlags } from './config-inputs.js';

type KeyEntry = ReturnType<typeof apiKeyEntry>;

/** HS256 keys shorter than the hash output weaken it (RFC 7518 §3.2), as the node's own check says. */
const MIN_SECRET = 32;

function fail(message: string, code = 1): void {
  process.stderr.write(`Error: ${message}\n`);
  process.exitCode = code;
}

interface TokenFlags extends ConfigFlags {
  role: string;
  ttl?: string;
  subject: string;
}

function tokenCreate(flags: TokenFlags): void {
  const loaded = configOrReport(flags);
  if (!loaded) return;
  const auth = loaded.config.security.auth;
  if (auth.secret_key.length < MIN_SECRET) return fail(`security.auth.secret_key (OLLAMA_SECURITY_AUTH_SECRET_KEY) must be set, at least ${MIN_SECRET} characters, to sign tokens`, EXIT_CONFIG);
  const roles = auth.roles.map((role) => role.name);
  if (!roles.includes(flags.role)) return fail(`role '${flags.role}' is not one of ${roles.join(', ')} (security.auth.roles)`, EXIT_CONFIG);
  let ttlMs: number;
  try {
    ttlMs = flags.ttl === undefined ? auth.token_expiry : parseDuration(flags.ttl);
  } catch {
    return fail(`--ttl ${JSON.stringify(flags.ttl)} is not a duration such as 24h, 30m or 3600s`, EXIT_CONFIG);
  }
  if (ttlMs <= 0) return fail('--ttl must be longer than 0', EXIT_CONFIG);
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + Math.ceil(ttlMs / 1000);
  const token = signHs256({ sub: flags.subject, role: flags.role, ...(auth.issuer ? { iss: auth.issuer } : {}), ...(auth.audience ? { aud: auth.audience } : {}), iat, exp }, auth.secret_key);
  process.stderr.write(`token for '${flags.subject}' with role '${flags.role}', valid until ${new Date(exp * 1000).toISOString()}:\n`);
  process.stdout.write(`${token}\n`);
}

export function keysTable(keys: readonly KeyEntry[]): string {
  return table([['ID', 'NAME', 'ROLE', 'CREATED', 'STATE'], ...keys.map((k) => [k.id, k.name, k.role, k.created_at, k.revoked ? 'revoked' : 'active'])]);
}

export function registerAuthCommands(program: Command, withConfigOptions: (command: Command) => Command): void {
  const token = program.command('token').description('JWTs for nodes with security.auth.enabled');
  withConfigOptions(token.command('create').description('sign a token with security.auth.secret_key; the token is the last line printed'))
    .requiredOption('--role <role>', 'a role of security.auth.roles (admin, user, readonly, ...)')
    .option('--ttl <duration>', 'how long it is valid, e.g. 24h (default: security.auth.token_expiry)')
    .option('--subject <name>', 'who it is for (the sub claim)', 'cli')
    .action((flags: TokenFlags) => tokenCreate(flags));

  const keys = program.command('keys').description("the cluster's API keys, through the node at OLLAMA_HOST with an admin token");
  const withToken = (command: Command) => command.option('--token <token>', 'admin API key or JWT (default: OLLAMA_API_KEY)');
  withToken(keys.command('create').description('make an API key; its secret is printed once, on the last line'))
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--role <role>', 'a role of security.auth.roles')
    .action(
      reported(async (flags: { name: string; role: string; token?: string }) => {
        const made = await callJson<KeyEntry & { key: string }>('/api/v1/keys', { body: { name: flags.name, role: flags.role }, token: flags.token });
        process.stderr.write(`key ${made.id} '${made.name}' with role '${made.role}'; it is shown only now:\n`);
        process.stdout.write(`${made.key}\n`);
      }),
    );
  withToken(keys.command('list').description('list API keys (never their secrets)'))
    .option('--json', 'print JSON')
    .action(
      reported(async (flags: { json?: boolean; token?: string }) => {
        const { keys: listed } = await callJson<{ keys: KeyEntry[] }>('/api/v1/keys', { token: flags.token });
        process.stdout.write(flags.json ? `${JSON.stringify(listed, null, 2)}\n` : keysTable(listed));
      }),
    );
  withToken(keys.command('revoke').description('revoke an API key on every node').argument('<id>'))
    .action(
      reported(async (id: string, flags: { token?: string }) => {
        await callJson(`/api/v1/keys/${encodeURIComponent(id)}`, { method: 'DELETE', token: flags.token });
        process.stdout.write(`revoked key ${id}\n`);
      }),
    );
}
