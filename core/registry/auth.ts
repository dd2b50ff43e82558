// Registry token auth (the Docker/OCI token flow): a 401 names a realm, service and scope in
// WWW-Authenticate; an anonymous GET of the realm returns a bearer token for the retry.

import { request, type Dispatcher } from 'undici';
import { RegistryConnectionError, RegistryProtocolError, RegistryStatusError } from './registry-error.js';

export interface BearerChallenge {
  realm: string;
  service?: string;
  scope?: string;
}

/**
 * Parses `Bearer realm="...",service="...",scope="..."`. Returns undefined for other schemes
 * (Basic needs credentials this client does not hold).
 */
export function parseBearerChallenge(header: string | string[] | undefined): BearerChallenge | undefined {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const value of values) {
    const match = /^\s*Bearer\s+(.*)$/i.exec(value);
    if (!match) continue;
    const params = new Map<string, string>();
    // Quoted values may hold commas (scope lists several actions), so split on key=value pairs.
    for (const pair of match[1]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
      params.set(pair[1]!.toLowerCase(), (pair[2] ?? pair[3] ?? '').replace(/\\(.)/g, '$1'));
    }
    const realm = params.get('realm');
    if (!realm) continue;
    return { realm, service: params.get('service'), scope: params.get('scope') };
  }
  return undefined;
}

/** Fetches an anonymous token for the challenge. Tokens come as `token` or `access_token`. */
export async function fetchBearerToken(challenge: BearerChallenge, dispatcher: Dispatcher, signal?: AbortSignal): Promise<string> {
  const url = new URL(challenge.realm);
  if (challenge.service) url.searchParams.set('service', challenge.service);
  for (const scope of (challenge.scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', scope);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { method: 'GET', dispatcher, signal: signal ?? null, headers: { accept: 'application/json' } });
  } catch (error) {
    signal?.throwIfAborted();
    throw new RegistryConnectionError(error);
  }
  const text = await response.body.text();
  if (response.statusCode >= 400) {
    throw new RegistryStatusError(response.statusCode, `from token service ${url.host}: ${text.slice(0, 300).trim()}`);
  }
  let token: unknown;
  try {
    const body = JSON.parse(text) as { token?: unknown; access_token?: unknown };
    token = body.token ?? body.access_token;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || token === '') throw new RegistryProtocolError(`token service ${url.host} returned no token`);
  return token;
}
