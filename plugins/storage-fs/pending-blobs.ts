// Blobs a create or pull in progress has written or found but that no manifest names yet. Garbage
// collection skips them, so deleting one model never takes a blob another is about to name.

/**
 * How long a blob nobody names yet is protected: in memory since its last claim, and on disk since
 * its mtime, which a start-up prune reads. Ollama's start-up prune waits the same hour.
 */
export const BLOB_GRACE_MS = 60 * 60 * 1000;

interface Claim {
  count: number;
  lastClaimedAt: number;
}

/**
 * Each store write of a blob claims it once; each manifest written that names it settles one
 * claim. A claim that is never settled (a create that failed) lapses after the grace period.
 */
export class PendingBlobs {
  /** In order of last claim, so lapsed claims are always at the front. */
  readonly #claims = new Map<string, Claim>();
  readonly #now: () => number;
  readonly #graceMs: number;

  constructor(options: { now?: () => number; graceMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#graceMs = options.graceMs ?? BLOB_GRACE_MS;
  }

  claim(digest: string): void {
    const now = this.#now();
    this.#dropLapsed(now);
    const count = (this.#claims.get(digest)?.count ?? 0) + 1;
    this.#claims.delete(digest);
    this.#claims.set(digest, { count, lastClaimedAt: now });
  }

  /** A manifest naming `digests` was written: one claim each, repeats counted. */
  settle(digests: Iterable<string>): void {
    for (const digest of digests) {
      const claim = this.#claims.get(digest);
      if (!claim) continue;
      if (claim.count > 1) claim.count--;
      else this.#claims.delete(digest);
    }
  }

  has(digest: string): boolean {
    this.#dropLapsed(this.#now());
    return this.#claims.has(digest);
  }

  #dropLapsed(now: number): void {
    for (const [digest, claim] of this.#claims) {
      if (now - claim.lastClaimedAt < this.#graceMs) return;
      this.#claims.delete(digest);
    }
  }
}

const byRoot = new Map<string, PendingBlobs>();

/** Shared by every store on one root in this process, as the locks are. */
export function pendingBlobsFor(root: string): PendingBlobs {
  let pending = byRoot.get(root);
  if (!pending) byRoot.set(root, (pending = new PendingBlobs()));
  return pending;
}
