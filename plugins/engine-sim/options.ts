// The simulator's parameters, read from `engine.options` in the node config. Each one has a
// default, a reason to exist, and a check whose error names `engine.options.<key>`.

import { ProductError } from '../../core/errors.js';

export interface SimOptions {
  /** Fixed cost of every model load (process setup, allocation), in ms. */
  load_ms: number;
  /** Disk-to-VRAM bandwidth: a load also takes modelSize / load_bytes_per_second. */
  load_bytes_per_second: number;
  /** Fixed cost of every request before prompt evaluation (scheduling, sampling setup), in ms. */
  ttft_ms: number;
  /** Prompt evaluation speed of one slot running alone; cached prompt tokens cost nothing. */
  prompt_tokens_per_second: number;
  /** Decode speed of one slot running alone. */
  tokens_per_second: number;
  /** Each further busy slot on the model slows every slot by this fraction (GPU compute is shared). */
  parallel_slowdown: number;
  /** Tokens the simulated model writes before it stops on its own (done reason 'stop'). */
  response_tokens: number;
  /** Of those, how many a model whose template thinks writes as thinking first, when the request thinks. */
  thinking_tokens: number;
  /** Whether a repeated prompt prefix on a loaded model skips its prompt evaluation. */
  prompt_cache: boolean;
  /** Simulated GPUs on this node; 0 runs every model on the CPU. */
  gpus: number;
  /** VRAM of each simulated GPU, in bytes. */
  vram_bytes: number;
  /** System memory, in bytes: what of a model does not fit the GPUs must fit here, or its load is refused. */
  ram_bytes: number;
  /** KV cache per context token and slot, in bytes: what num_ctx × num_parallel adds to a model's memory. */
  kv_bytes_per_token: number;
  /** Context length when neither the request nor the model sets num_ctx. */
  num_ctx: number;
  /** The context simulated models were trained with: a larger num_ctx is capped to it, as Ollama caps it. */
  context_length: number;
  /** Length of every embedding vector. */
  embedding_dim: number;
}

export const SIM_DEFAULTS: Readonly<SimOptions> = Object.freeze({
  load_ms: 250,
  load_bytes_per_second: 2e9,
  ttft_ms: 10,
  prompt_tokens_per_second: 2000,
  tokens_per_second: 50,
  parallel_slowdown: 0.1,
  response_tokens: 64,
  thinking_tokens: 8,
  prompt_cache: true,
  gpus: 1,
  vram_bytes: 24 * 2 ** 30,
  ram_bytes: 64 * 2 ** 30,
  kv_bytes_per_token: 128 * 1024,
  num_ctx: 4096,
  context_length: 131_072,
  embedding_dim: 64,
});

type Check = (value: unknown) => string | undefined;

const number =
  (min: number, exclusive: boolean): Check =>
  (value) =>
    typeof value === 'number' && Number.isFinite(value) && (exclusive ? value > min : value >= min)
      ? undefined
      : `a number ${exclusive ? '>' : '>='} ${min}`;

const integer =
  (min: number): Check =>
  (value) =>
    Number.isSafeInteger(value) && (value as number) >= min ? undefined : `an integer >= ${min}`;

const boolean: Check = (value) => (typeof value === 'boolean' ? undefined : 'true or false');

const CHECKS: Record<keyof SimOptions, Check> = {
  load_ms: number(0, false),
  load_bytes_per_second: number(0, true),
  ttft_ms: number(0, false),
  prompt_tokens_per_second: number(0, true),
  tokens_per_second: number(0, true),
  parallel_slowdown: number(0, false),
  response_tokens: integer(1),
  thinking_tokens: integer(0),
  prompt_cache: boolean,
  gpus: integer(0),
  vram_bytes: integer(1),
  ram_bytes: integer(0),
  kv_bytes_per_token: integer(0),
  num_ctx: integer(1),
  context_length: integer(1),
  embedding_dim: integer(1),
};

/** Defaults overlaid with `raw`; throws OD_ERR_CONFIG listing every bad or unknown key. */
export function parseSimOptions(raw: Readonly<Record<string, unknown>>): SimOptions {
  const problems: string[] = [];
  const options: Record<string, unknown> = { ...SIM_DEFAULTS };
  for (const [key, value] of Object.entries(raw)) {
    if (!Object.hasOwn(CHECKS, key)) {
      problems.push(`config engine.options.${key}: unknown option; known: ${Object.keys(CHECKS).join(', ')}`);
      continue;
    }
    const expected = CHECKS[key as keyof SimOptions](value);
    if (expected) problems.push(`config engine.options.${key} = ${JSON.stringify(value)}: must be ${expected}`);
    else options[key] = value;
  }
  if (problems.length > 0) throw new ProductError('OD_ERR_CONFIG', problems.join('\n'));
  return options as unknown as SimOptions;
}
