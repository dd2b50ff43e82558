// The load balancer contract: choose the node that runs a request among the candidates the
// scheduler found. Implementations: plugins/balancer-round-robin, -least-connections, -random,
// -adaptive, -affinity; a third-party balancer is any module exporting the same factory and metadata.

/** Load figures a node gossips about itself every second. */
export interface NodeLoad {
  /** Requests running now. */
  activeRequests: number;
  /** Requests waiting for a slot. */
  queueDepth: number;
  /** Generated tokens per second over the last window. */
  tokensPerSecond: number;
  /** 0..1 across the node's GPUs; 0 when it has none. */
  gpuUtilization: number;
  vramFree: number;
  vramTotal: number;
  /** Requests one loaded model runs at once there (its engine.num_parallel); more wait for a slot. */
  slots: number;
  /** Median time to first token over the recent window, ms; 0 with no recent request. */
  ttftMs: number;
  /** Measured prompt evaluation speed over the recent window; 0 until measured. */
  promptTokensPerSecond: number;
  /** Measured model load speed (bytes of model per second of load) over recent loads; 0 until measured. */
  loadBytesPerSecond: number;
}

export interface Candidate {
  nodeId: string;
  /** Base URL of the node's API, e.g. http://10.0.0.2:11434. */
  apiUrl: string;
  /** True for the node that took the request. */
  local: boolean;
  /** True when the model is already loaded there (no load delay). */
  modelLoaded: boolean;
  /**
   * Requests for this model running or waiting there: exact for the node that took the request,
   * what the node announced (all its models together) for the others.
   */
  modelRequests: number;
  /** Bytes of the model's weights on that node: what a load has to read. */
  modelSize: number;
  load: NodeLoad;
  labels: Readonly<Record<string, string>>;
  /** What the scheduler's scoreNode taps added for this request (0 without taps); scoring balancers add it to their score. */
  scoreBias: number;
}

export type RequestKind = 'generate' | 'chat' | 'embed';

export interface RouteRequest {
  model: string;
  kind: RequestKind;
  /**
   * Hash chain of the prompt's leading blocks (core/scheduler/prompt-blocks.ts): entry i stands for
   * blocks 0..i, so two prompts share a prefix of k blocks exactly when their first k entries match.
   * Absent or empty when the request has no prompt or one shorter than a block.
   */
  promptBlocks?: readonly string[];
  /** Estimated tokens of the whole prompt, for prompt evaluation time; absent when unknown. */
  promptTokens?: number;
}

export type RouteOutcome = 'ok' | 'error' | 'cancelled';

/**
 * Invariants:
 * - `pickNode` returns one of `candidates` (same object) or undefined when the list is empty.
 * - It must not block or do I/O: it runs on every request.
 * - `started`/`finished` come in pairs per routed request, from any number of concurrent requests.
 */
export interface Balancer {
  readonly name: string;
  /**
   * True when picks read `request.promptBlocks`/`promptTokens`: only then does the request path
   * compute them (core/scheduler/prompt-blocks.ts), which costs tens of µs per request.
   */
  readonly usesPrompt?: boolean;
  /**
   * True when two instances fed the same calls (picks, started, finished) in the same order pick
   * the same nodes; the conformance suite checks it.
   */
  readonly deterministic?: boolean;
  pickNode(request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined;
  started?(nodeId: string, request: RouteRequest): void;
  finished?(nodeId: string, request: RouteRequest, outcome: RouteOutcome): void;
}
