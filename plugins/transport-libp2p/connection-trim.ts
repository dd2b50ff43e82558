// Connection watermarks: libp2p prunes only down to its maximum (p2p.conn_mgr_high); once it
// has pruned, this closes more, down to p2p.conn_mgr_low, sparing cluster members longest.

import type { Connection, Libp2p } from '@libp2p/interface';

export interface TrimCandidate {
  member: boolean;
  streams: number;
  /** ms since the epoch the connection opened. */
  opened: number;
}

/** Indexes of the connections to close to keep `low`: non-members first, then idle and young ones. */
export function connectionsToTrim(candidates: readonly TrimCandidate[], low: number): number[] {
  const excess = candidates.length - low;
  if (excess <= 0) return [];
  return candidates
    .map((candidate, index) => ({ candidate, index }))
    .sort((a, b) => Number(a.candidate.member) - Number(b.candidate.member) || a.candidate.streams - b.candidate.streams || b.candidate.opened - a.candidate.opened)
    .slice(0, excess)
    .map(({ index }) => index);
}

export class ConnectionTrim {
  constructor(
    private readonly libp2p: Libp2p,
    private readonly low: number,
    private readonly isMember: (peerId: string) => boolean,
  ) {}

  start(): void {
    this.libp2p.addEventListener('connection:prune', this.onPrune);
  }

  stop(): void {
    this.libp2p.removeEventListener('connection:prune', this.onPrune);
  }

  private readonly onPrune = () => {
    const open = this.libp2p.getConnections().filter((connection) => connection.status === 'open');
    const candidates = open.map((connection: Connection) => ({ member: this.isMember(connection.remotePeer.toString()), streams: connection.streams.length, opened: connection.timeline.open }));
    for (const index of connectionsToTrim(candidates, this.low)) {
      const connection = open[index]!;
      void connection.close().catch((error: Error) => connection.abort(error));
    }
  };
}
