// The load balancer contract: choose the node that runs a request among the candidates the
// scheduler found. Implementations: plugins/balancer-round-robin, -least-connections, -random,
// -adaptive; a third-party balancer is any module exporting the same factory and metadata.

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
}

export interface Candidate {
  nodeId: string;
  /** Base URL of the node's API, e.g. http://10.0.0.2:11434. */
  apiUrl: string;
  /** True for the node that took the request. */
  local: boolean;
  /** True when the model is already loaded there (no load delay). */
  modelLoaded: boolean;
  load: NodeLoad;
  labels: Readonly<Record<string, string>>;
}

export type RequestKind = 'generate' | 'chat' | 'embed';

export interface RouteRequest {
  model: string;
  kind: RequestKind;
  /** Hash of the prompt's leading part, for cache affinity; undefined when too short. */
  prefixHash?: string;
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
  pickNode(request: RouteRequest, candidates: readonly Candidate[]): Candidate | undefined;
  started?(nodeId: string, request: RouteRequest): void;
  finished?(nodeId: string, request: RouteRequest, outcome: RouteOutcome): void;
}
