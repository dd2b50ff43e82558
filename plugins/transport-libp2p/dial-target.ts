// Multiaddrs as libp2p's dial takes them. The project pins @multiformats/multiaddr 13.0.1 and
// libp2p carries 13.0.3: one class at runtime (a Symbol.for brand), two types to the compiler.

import type { Libp2p } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';

export type DialTarget = Parameters<Libp2p['dial']>[0];

export function dialTarget(addresses: string | readonly string[]): DialTarget {
  const parsed = typeof addresses === 'string' ? multiaddr(addresses) : addresses.map((address) => multiaddr(address));
  return parsed as unknown as DialTarget;
}
