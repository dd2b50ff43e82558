// Decides when a dropped peer message is worth a log line: the first from a peer, then at most
// one per interval with the count dropped since, so a peer sending garbage cannot flood the log.

/** Peers remembered at most; an admitted peer set is far smaller, a flood of ids is not kept. */
const MAX_PEERS = 1024;

export class DropLog {
  private readonly peers = new Map<string, { loggedAt: number; dropped: number }>();

  constructor(private readonly intervalMs: number) {}

  /** The count to log (drops since the last line, this one included), or undefined to stay quiet. */
  drop(peerId: string, now: number): number | undefined {
    const entry = this.peers.get(peerId);
    if (entry && now - entry.loggedAt < this.intervalMs) {
      entry.dropped += 1;
      return undefined;
    }
    if (!entry && this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value!);
    this.peers.set(peerId, { loggedAt: now, dropped: 0 });
    return (entry?.dropped ?? 0) + 1;
  }
}
