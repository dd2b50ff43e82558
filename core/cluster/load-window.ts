// This node's recent load as the cluster announces it: the runs under way here and, over the last
// window, the median time to first token, the tokens generated per second and the prompt
// evaluation speed; and the model load speed over the last loads. Pure: times come in.

/**
 * Long enough to hold several requests on a busy node, short enough that a balancer sees a node
 * turn busy or idle within a few announcements.
 */
export const LOAD_WINDOW_MS = 10_000;

/** Caps memory on a node answering thousands of requests a second; the median barely moves. */
const MAX_TTFT_SAMPLES = 1024;

const BUCKET_MS = 1000;

/** Loads are rare: the speed is taken over the last few, however old. */
const LOAD_SAMPLES = 8;

/** Shorter loads are a model already in memory (or a cache hit), which says nothing of the disk. */
const MIN_LOAD_NS = 1e6;

export interface LoadSnapshot {
  /** Runs begun here and not ended, whether in an engine slot or waiting for one. */
  running: number;
  /** Median time to first token over the window, ms; 0 with no run in it. */
  ttftMs: number;
  tokensPerSecond: number;
  /** Prompt tokens per second of prompt evaluation over the window; 0 with none evaluated. */
  promptTokensPerSecond: number;
  /** Model bytes per second of load over the last loads; 0 before the first. */
  loadBytesPerSecond: number;
}

/** What the engine reported of a run when it ended (durations in nanoseconds, as Ollama's). */
export interface RunFigures {
  /** The engine's own count, which tops up tokens not streamed one by one. */
  evalCount?: number;
  promptEvalCount?: number;
  promptEvalDuration?: number;
  loadDuration?: number;
  /** Bytes of the model the run loaded, when its load was part of it. */
  modelSize?: number;
}

/** One run's marks; every method after `end` is ignored. */
export interface RunLoad {
  token(now: number): void;
  end(now: number, figures?: RunFigures): void;
}

export class LoadWindow {
  private runningCount = 0;
  private ttfts: { at: number; ms: number }[] = [];
  private readonly tokenBuckets = new Map<number, number>();
  private prompts: { at: number; tokens: number; ns: number }[] = [];
  private readonly loads: { bytes: number; ns: number }[] = [];

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
      end: (at, figures = {}) => {
        if (ended) return;
        ended = true;
        this.runningCount -= 1;
        const { evalCount = tokens, promptEvalCount = 0, promptEvalDuration = 0, loadDuration = 0, modelSize = 0 } = figures;
        if (evalCount > tokens) this.addTokens(at, evalCount - tokens);
        if (promptEvalCount > 0 && promptEvalDuration > 0) this.prompts.push({ at, tokens: promptEvalCount, ns: promptEvalDuration });
        if (modelSize > 0 && loadDuration >= MIN_LOAD_NS) {
          this.loads.push({ bytes: modelSize, ns: loadDuration });
          if (this.loads.length > LOAD_SAMPLES) this.loads.shift();
        }
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
    return {
      running: this.runningCount,
      ttftMs,
      tokensPerSecond: tokens / (this.windowMs / 1000),
      promptTokensPerSecond: perSecond(this.prompts, (p) => p.tokens),
      loadBytesPerSecond: perSecond(this.loads, (l) => l.bytes),
    };
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
    if (this.prompts.length > 0 && this.prompts[0]!.at <= since) this.prompts = this.prompts.filter((p) => p.at > since);
    if (this.prompts.length > MAX_TTFT_SAMPLES) this.prompts.splice(0, this.prompts.length - MAX_TTFT_SAMPLES);
    const firstBucket = Math.floor(since / BUCKET_MS);
    for (const bucket of this.tokenBuckets.keys()) if (bucket < firstBucket) this.tokenBuckets.delete(bucket);
  }
}

/** Amount per second of the samples' total time (nanoseconds); 0 with no time. */
function perSecond<T extends { ns: number }>(samples: readonly T[], amountOf: (sample: T) => number): number {
  let amount = 0;
  let ns = 0;
  for (const sample of samples) {
    amount += amountOf(sample);
    ns += sample.ns;
  }
  return ns > 0 ? amount / (ns / 1e9) : 0;
}
