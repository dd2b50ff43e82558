// Gossiped load is up to a second old. This node knows exactly when its own routes to each node
// began and ended, so it brings an announced figure up to now: the routes the announcement counted
// that have ended since come off, the ones begun since and still running go on.

interface Entry {
  startedAt: number;
  endedAt?: number;
}

export interface LedgerEntry {
  end(now: number): void;
}

export class RouteLedger {
  private readonly byNode = new Map<string, Set<Entry>>();

  begin(nodeId: string, now: number): LedgerEntry {
    const entry: Entry = { startedAt: now };
    let entries = this.byNode.get(nodeId);
    if (!entries) this.byNode.set(nodeId, (entries = new Set()));
    entries.add(entry);
    return {
      end: (at) => {
        entry.endedAt ??= at;
      },
    };
  }

  /**
   * What an announcement made at `at` (this node's clock) misses now. Routes that ended before `at`
   * can never matter again, as announcements only get newer, so they are dropped here: the ledger
   * holds the running routes and those ended within one announcement interval.
   */
  drift(nodeId: string, at: number): number {
    const entries = this.byNode.get(nodeId);
    if (!entries) return 0;
    let drift = 0;
    for (const entry of entries) {
      if (entry.endedAt !== undefined && entry.endedAt <= at) entries.delete(entry);
      else if (entry.startedAt <= at && entry.endedAt !== undefined) drift -= 1;
      else if (entry.startedAt > at && entry.endedAt === undefined) drift += 1;
    }
    if (entries.size === 0) this.byNode.delete(nodeId);
    return drift;
  }
}
