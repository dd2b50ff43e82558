// The API URL a node announces for others to forward to: api.advertise when set, else the bound
// API address, with a wildcard listen (0.0.0.0, ::) replaced by an address other machines can reach.

import type { NetworkInterfaceInfo } from 'node:os';
import { splitHostPort } from '../config/values.js';

export interface ApiUrlInputs {
  advertise: string;
  /** api.listen as configured. */
  listen: string;
  /** The API's bound base URL (its port is the real one when api.listen asked for port 0). */
  bound: string;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export interface ApiUrlChoice {
  url: string;
  /** How the URL was found, for the log. */
  source: 'api.advertise' | 'api.listen' | 'first non-internal IPv4' | 'loopback (no other address found)';
}

export const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function firstExternalIpv4(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | undefined {
  for (const name of Object.keys(interfaces).sort()) {
    const address = interfaces[name]?.find((entry) => entry.family === 'IPv4' && !entry.internal);
    if (address) return address.address;
  }
  return undefined;
}

export function announcedApiUrl(inputs: ApiUrlInputs): ApiUrlChoice {
  if (inputs.advertise !== '') return { url: inputs.advertise.replace(/\/+$/, ''), source: 'api.advertise' };
  const bound = new URL(inputs.bound);
  const { host } = splitHostPort(inputs.listen);
  if (!WILDCARDS.has(host)) {
    // A host name is kept as written; an IP literal is what the API bound to already.
    if (!host.includes(':')) bound.hostname = host;
    return { url: bound.origin, source: 'api.listen' };
  }
  const external = firstExternalIpv4(inputs.interfaces);
  bound.hostname = external ?? '127.0.0.1';
  return { url: bound.origin, source: external ? 'first non-internal IPv4' : 'loopback (no other address found)' };
}
