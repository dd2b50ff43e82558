// This node's recent load as the cluster announces it: the runs under way here and, over the last
// window, the median time to first token and the tokens generated per second. Pure: times come in.

/**
 * Long enough to hold several requests on a busy node, short enough that a balancer sees a node
 * turn busy or idle within a few announcements.
 */
export const LOAD_WINDOW_MS = 10_000;

/** Caps memory on a node answering thousands of requests a second; the median barely moves. */
const MAX_TTFT_SAMPLES = 1024;

const BUCKET_MS = 1000;

export interface LoadSnapshot {
  /** Runs begun here and not ended, whether in an engine slot or waiting for one. */
  running: number;
  /** Median time to first token over the window, ms; 0 with no run in it. */
  ttftMs: number;
  tokensPerSecond: number;
}

/** One run's marks; every method after `end` is ignored. */
export interface RunLoad {
  token(now: number): void;
  /** `evalCount` is the engine's own count, which tops up tokens not streamed one by one. */
  end(now: number, evalCount?: number): void;
}

export class LoadWindow {
  private runningCount = 0;
  private ttfts: { at: number; ms: number }[] = [];
  private readonly tokenBuckets = new Map<number, number>();

  constructor(private readonly windowMs = LOAD_WINDOW_MS) {}

  begin(now: number): RunLoad {
    this.runningCount += 1;
    let tokens = 0;
    let ended = false;
    return {
      token: (at) => {
        if (ended) return;
        if (tokens === 0) this.addTtft(at, at - now);
        tokens += 1;
        this.addTokens(at, 1);
      },
      end: (at, evalCount = tokens) => {
        if (ended) return;
        ended = true;
        this.runningCount -= 1;
        if (evalCount > tokens) this.addTokens(at, evalCount - tokens);
      },
    };
  }

  /** Runs begun here and not ended, as `snapshot().running`, without reading the window. */
  get running(): number {
    return this.runningCount;
  }

  snapshot(now: number): LoadSnapshot {
    this.prune(now);
    const sorted = this.ttfts.map((s) => s.ms).sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    const ttftMs = sorted.length === 0 ? 0 : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    let tokens = 0;
    for (const count of this.tokenBuckets.values()) tokens += count;
    return { running: this.runningCount, ttftMs, tokensPerSecond: tokens / (this.windowMs / 1000) };
  }

  private addTtft(at: number, ms: number): void {
    this.ttfts.push({ at, ms: Math.max(0, ms) });
    if (this.ttfts.length > MAX_TTFT_SAMPLES) this.ttfts.shift();
  }

  private addTokens(at: number, count: number): void {
    const bucket = Math.floor(at / BUCKET_MS);
    this.tokenBuckets.set(bucket, (this.tokenBuckets.get(bucket) ?? 0) + count);
    this.prune(at);
  }

  private prune(now: number): void {
    const since = now - this.windowMs;
    while (this.ttfts.length > 0 && this.ttfts[0]!.at <= since) this.ttfts.shift();
    const firstBucket = Math.floor(since / BUCKET_MS);
    for (const bucket of this.tokenBuckets.keys()) if (bucket < firstBucket) this.tokenBuckets.delete(bucket);
  }
}
