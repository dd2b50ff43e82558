// The consensus address a member gives its peers: consensus.advertise_addr when set, else the
// bound address, with a wildcard bind (0.0.0.0, ::) replaced by a host other machines can reach:
// api.advertise's host, or the first non-internal IPv4.

import type { NetworkInterfaceInfo } from 'node:os';
import { firstExternalIpv4, WILDCARDS } from '../../core/cluster/api-url.js';
import { splitHostPort } from '../../core/config/values.js';

export interface AdvertiseInputs {
  advertise: string;
  /** host:port as bound (the real port when bind_addr asked for port 0). */
  bound: string;
  apiAdvertise: string;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

export function advertisedAddress(inputs: AdvertiseInputs): string {
  if (inputs.advertise !== '') return inputs.advertise;
  const { host, port } = splitHostPort(inputs.bound);
  if (!WILDCARDS.has(host)) return inputs.bound;
  const reachable = inputs.apiAdvertise !== '' ? new URL(inputs.apiAdvertise).hostname : firstExternalIpv4(inputs.interfaces) ?? '127.0.0.1';
  return `${reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable}:${port}`;
}
