// What a serving node tells the nodes fetching a blob from it: the other peers that asked it for
// the blob lately, and which chunks it has already sent. A fetcher learns its fellow fetchers from
// the first answer instead of a DHT lookup, and asks the serving node for chunks nobody got yet,
// so a seed's uplink carries each chunk about once however many nodes fetch at the same time.
// Pure: time comes in.

/** Peers named in one answer; a swarm larger than this still meets through the peers it names. */
export const MAX_SWARM_PEERS = 16;

export interface SwarmHint {
  /** Other peers that asked for the blob within the swarm's memory, latest first. */
  peers: string[];
  /** Chunks this node began sending to anyone, as a have-bitmap (piece-picker.ts's layout). */
  sent: Uint8Array;
}

interface Swarm {
  /** Peer → when it last asked. */
  askedAt: Map<string, number>;
  sent: Uint8Array;
  lastAt: number;
}

export interface SwarmsOptions {
  /** A peer silent this long leaves a swarm; a swarm silent this long is forgotten with what it was sent. */
  forgetAfterMs: number;
  /** Blobs remembered at once; past it the one silent longest is forgotten. */
  maxBlobs: number;
  /** Peers remembered per blob; past it the one silent longest is forgotten. */
  maxPeers: number;
}

export class Swarms {
  readonly #swarms = new Map<string, Swarm>();

  constructor(private readonly options: SwarmsOptions) {}

  /** `peer` asked for the blob (its map, or chunk `chunk` of `chunkCount`, which this node now sends). */
  asked(digest: string, chunkCount: number, peer: string, now: number, chunk?: number): void {
    const swarm = this.#swarm(digest, chunkCount, now);
    swarm.askedAt.delete(peer);
    swarm.askedAt.set(peer, now);
    if (swarm.askedAt.size > this.options.maxPeers) swarm.askedAt.delete(swarm.askedAt.keys().next().value!);
    swarm.lastAt = now;
    if (chunk !== undefined && chunk >= 0 && chunk < chunkCount) swarm.sent[chunk >> 3]! |= 0x80 >> (chunk & 7);
  }

  /** What to tell `requester` of the blob's swarm: undefined when nobody else asked lately. */
  hint(digest: string, requester: string, now: number): SwarmHint | undefined {
    const swarm = this.#live(digest, now);
    if (!swarm) return undefined;
    const peers: string[] = [];
    for (const [peer, at] of [...swarm.askedAt].reverse()) {
      if (now - at >= this.options.forgetAfterMs) break;
      if (peer !== requester) peers.push(peer);
      if (peers.length >= MAX_SWARM_PEERS) break;
    }
    return { peers, sent: swarm.sent };
  }

  #live(digest: string, now: number): Swarm | undefined {
    const swarm = this.#swarms.get(digest);
    if (swarm && now - swarm.lastAt >= this.options.forgetAfterMs) {
      this.#swarms.delete(digest);
      return undefined;
    }
    return swarm;
  }

  #swarm(digest: string, chunkCount: number, now: number): Swarm {
    let swarm = this.#live(digest, now);
    if (!swarm || swarm.sent.byteLength !== Math.ceil(chunkCount / 8)) {
      swarm = { askedAt: new Map(), sent: new Uint8Array(Math.ceil(chunkCount / 8)), lastAt: now };
      this.#swarms.delete(digest);
      this.#swarms.set(digest, swarm);
      if (this.#swarms.size > this.options.maxBlobs) this.#evictOldest();
    }
    return swarm;
  }

  #evictOldest(): void {
    let oldest: string | undefined;
    let oldestAt = Infinity;
    for (const [digest, swarm] of this.#swarms) {
      if (swarm.lastAt < oldestAt) {
        oldest = digest;
        oldestAt = swarm.lastAt;
      }
    }
    if (oldest !== undefined) this.#swarms.delete(oldest);
  }
}
