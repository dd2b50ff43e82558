// The inference engine contract: runs models on this node's GPUs or CPU. Implementations:
// plugins/engine-llama-cpp (embedded llama.cpp), engine-ollama (a local Ollama daemon),
// engine-sim (a timing-faithful simulator).

import type { Startable } from './plugin.js';

/** Everything an engine needs to run a model, resolved from the store by the API layer. */
export interface ModelSpec {
  /** Display name, e.g. `tiny:latest`. */
  name: string;
  /** `sha256:<hex>` of the manifest: a model is identical on every node holding this digest. */
  digest: string;
  /** Absolute path of the GGUF model blob. */
  modelPath: string;
  /** Size in bytes of the model blob. */
  modelSize: number;
  adapterPaths: string[];
  projectorPath?: string;
  /** Go-style template from the manifest's template layer; engines fall back to the model's own. */
  template?: string;
  system?: string;
  /** Defaults from the manifest's params layer; request options override them. */
  parameters: ModelOptions;
  /** Conversation prefix from the messages layer. */
  messages: ChatMessage[];
  details: ModelDetails;
}

export interface ModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[] | null;
  parameter_size: string;
  quantization_level: string;
}

/** Ollama's `options` (the subset engines must honour; unknown keys are ignored). */
export interface ModelOptions {
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repeat_penalty?: number;
  repeat_last_n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  num_predict?: number;
  stop?: string[];
  num_ctx?: number;
  num_batch?: number;
  num_gpu?: number;
  num_thread?: number;
}

export interface ToolCall {
  /** `call_` and 8 random characters when the API layer made it; an upstream engine's own id passes through. */
  id?: string;
  /** `index` counts the calls of one response from 0. */
  function: { index?: number; name: string; arguments: Record<string, unknown> };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** What the model thought before an earlier answer, for templates that render it. */
  thinking?: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_name?: string;
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

/** Ollama's `think`: on or off, or on at a level. */
export type ThinkValue = boolean | 'low' | 'medium' | 'high' | 'max';

/** `'json'` or a JSON schema the output must satisfy. */
export type OutputFormat = 'json' | Record<string, unknown>;

interface RunRequest {
  model: ModelSpec;
  options: ModelOptions;
  format?: OutputFormat;
  /**
   * On only for a model with the `thinking` capability (the API layer refuses it otherwise): then its
   * thinking streams as `thinking` events apart from the answer. Templates see it as `.Think`.
   */
  think?: ThinkValue;
  /**
   * Ollama's `logprobs` and `top_logprobs` (0..20): when set, an engine that can report token
   * probabilities puts them on its token and thinking events; one that cannot leaves them off.
   */
  logprobs?: { top: number };
  /** How long the model stays loaded after this request, in ms; negative keeps it forever. */
  keepAliveMs: number;
  signal: AbortSignal;
}

export interface GenerateRequest extends RunRequest {
  prompt: string;
  suffix?: string;
  system?: string;
  /** Overrides the model's template for this request. */
  template?: string;
  /** When true the prompt is sent as-is, without the template. */
  raw: boolean;
  images?: string[];
  /** Token context returned by an earlier generate call, to continue from. */
  context?: number[];
  /**
   * The start of the answer, generated on a node that died mid-stream: the engine goes on after it
   * as if it had generated it, and its events and counts cover only what it adds. (A chat goes on
   * the way Ollama's does, from a last assistant message.)
   */
  continueFrom?: string;
}

export interface ChatRequest extends RunRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
}

export type DoneReason = 'stop' | 'length' | 'load' | 'unload';

/** Counts and durations (nanoseconds) as Ollama reports them in its final chunk. */
export interface RunStats {
  doneReason: DoneReason;
  loadDuration: number;
  promptEvalCount: number;
  promptEvalDuration: number;
  evalCount: number;
  evalDuration: number;
}

/** One token's text and natural-log probability, as Ollama's api.TokenLogprob (its bytes are the API's to add). */
export interface TokenLogprob {
  token: string;
  logprob: number;
}

/** A generated token and, when asked for, the most likely tokens at its place (Ollama's api.Logprob). */
export interface Logprob extends TokenLogprob {
  top_logprobs?: TokenLogprob[];
}

/** `logprobs` covers the tokens whose text the event carries, when the request asked for them. */
export type RunEvent =
  | { type: 'token'; text: string; logprobs?: Logprob[] }
  | { type: 'thinking'; text: string; logprobs?: Logprob[] }
  | { type: 'tool_calls'; calls: ToolCall[] }
  | ({ type: 'done'; context?: number[] } & RunStats);

export interface EmbedRequest {
  model: ModelSpec;
  input: string[];
  /** When false, an input longer than the context is an error instead of being cut. */
  truncate: boolean;
  options: ModelOptions;
  keepAliveMs: number;
  signal: AbortSignal;
}

export interface EmbedResult {
  embeddings: number[][];
  promptEvalCount: number;
  loadDuration: number;
}

export type Capability = 'completion' | 'embedding' | 'tools' | 'insert' | 'vision' | 'thinking';

export interface LoadedModel {
  name: string;
  digest: string;
  /** Bytes held in RAM and VRAM together, and the VRAM part. */
  size: number;
  sizeVram: number;
  contextLength: number;
  expiresAt: Date;
  details: ModelDetails;
  /** Requests running on it now. */
  activeRequests: number;
}

export interface GpuInfo {
  id: string;
  name: string;
  /** 'cuda' | 'vulkan' | 'metal' */
  backend: string;
  vramTotal: number;
  vramFree: number;
}

export interface MemoryEstimate {
  /** Bytes needed in total and the part that goes to VRAM with the current GPUs. */
  total: number;
  vram: number;
}

/**
 * Invariants:
 * - `generate` and `chat` yield zero or more `token`/`thinking`/`tool_calls` events and end with exactly one
 *   `done` event, unless they throw. Aborting `signal` ends the stream promptly (an AbortError).
 * - A model is loaded on first use and unloaded `keepAliveMs` after its last request ends;
 *   `keepAliveMs === 0` unloads right after the request; negative never expires.
 * - No more than the configured parallel requests run on one model; the rest wait in order.
 * - Loading beyond the configured cap on loaded models first unloads the idle model used least
 *   recently; when none is idle the load waits.
 * - num_ctx above the context the model was trained with is capped to it. A load whose memory
 *   estimate cannot fit what the node has free (idle models unloaded) is refused with
 *   OD_ERR_INSUFFICIENT_MEMORY before anything is allocated.
 * - A prompt longer than the context keeps its end (an embed input its start), and only as much of
 *   it is tokenized as the context can use; no call holds the event loop for long.
 * Concurrency: every method may be called concurrently.
 */
export interface Engine extends Startable {
  readonly name: string;
  generate(request: GenerateRequest): AsyncIterable<RunEvent>;
  chat(request: ChatRequest): AsyncIterable<RunEvent>;
  embed(request: EmbedRequest): Promise<EmbedResult>;
  /** Loads without running anything (Ollama's empty-prompt generate). Returns the load duration in ns. */
  load(model: ModelSpec, keepAliveMs: number, signal: AbortSignal): Promise<number>;
  /** Unloads now; resolves once the memory is released. No-op when not loaded. */
  unload(name: string, signal?: AbortSignal): Promise<void>;
  loaded(): LoadedModel[];
  capabilities(model: ModelSpec): Promise<Capability[]>;
  /**
   * Optional: refuses (with a 400 ProductError) a model file this engine could not run, before the
   * node accepts it at create; for engines whose runtime a malformed file can take down.
   */
  checkModelFile?(path: string, signal?: AbortSignal): Promise<void>;
  /** What loading `model` with `options` would take, with the same bounds a load applies. */
  estimateMemory(model: ModelSpec, options: ModelOptions): Promise<MemoryEstimate>;
  gpus(): Promise<GpuInfo[]>;
}
