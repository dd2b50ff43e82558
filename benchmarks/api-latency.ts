// What the Ollama API adds to a completion: /api/generate on a node in this process against
// node-llama-cpp called directly, same GGUF file, prompt, sampling and token count, taking turns.

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { getLlama, LlamaLogLevel, type Llama, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import Fastify, { type FastifyInstance } from 'fastify';
import { Client } from 'undici';
import { startTestNode, type TestNode } from '../conformance/fixtures/node.js';
import { parameterCount, tinyGgufBytes, tinyModelSpec, type TinyGgufOptions } from '../conformance/fixtures/tiny-gguf.js';
import { createTiny } from '../core/api/ollama/test-support.js';
import { loadConfig } from '../core/config/load.js';
import type { Engine, ModelSpec } from '../core/contracts/engine.js';
import { silentLogger } from '../core/log.js';
import { llamaCpp } from '../plugins/engine-llama-cpp/index.js';
import { storePaths } from '../plugins/storage-fs/paths.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface ApiLatencyOptions {
  /** Measured requests per side and model, after the warm-up. */
  requests?: number;
  /** num_predict: every request generates exactly this many tokens. */
  tokens?: number;
  /** Random-weight models to run on: the default tiny one, and one where compute outweighs the API. */
  models?: readonly TinyGgufOptions[];
}

const PROMPT = 'The quick brown fox jumps over the lazy dog. ';
/** A seed under which neither default model samples end-of-sequence within the default tokens. */
const SEED = 2;
/**
 * One-token requests on every side before the rounds: V8 compiles a request path with its optimizing
 * tier only after hundreds of calls, and a node in service has long passed that.
 */
const JIT_WARM_UP = 1000;
/** Full rounds before measuring, after the JIT warm-up. */
const WARM_UP = 20;
/** The engine's defaults on this machine: OLLAMA_CONTEXT_LENGTH and OLLAMA_NUM_THREAD unset. */
const CONTEXT_LENGTH = 4096;
const THREADS = Math.max(1, availableParallelism() - 1);

/** Ollama's default sampling, sent to the API as options and given to node-llama-cpp as the engine maps it. */
const OPTIONS = { temperature: 0.8, top_k: 40, top_p: 0.9, min_p: 0, repeat_penalty: 1.1, repeat_last_n: 64, seed: SEED } as const;

interface Sample {
  firstTokenMs: number;
  totalMs: number;
  tokens: number;
  text: string;
}

/** node-llama-cpp on its own: one context and sequence, reusing the cached prompt as the engine does. */
class DirectCompletion {
  private constructor(
    private readonly model: LlamaModel,
    private readonly sequence: LlamaContextSequence,
    private readonly prompt: Token[],
  ) {}

  static async open(llama: Llama, modelPath: string): Promise<DirectCompletion> {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: CONTEXT_LENGTH, sequences: 1, threads: THREADS });
    const tokens = model.tokenize(PROMPT, true);
    const bos = model.tokens.bos;
    const prompt = bos !== null && model.tokens.shouldPrependBosToken && tokens[0] !== bos ? [bos, ...tokens] : tokens;
    return new DirectCompletion(model, context.getSequence(), prompt);
  }

  async run(maxTokens: number): Promise<Sample> {
    const { sequence, prompt } = this;
    const started = performance.now();
    // Keep the cached prompt but its last token, which is evaluated again for fresh logits.
    const cached = Math.max(0, Math.min(sequence.compareContextTokens(prompt).firstDifferentIndex, prompt.length - 1));
    if (cached < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: cached, end: sequence.nextTokenIndex }]);
    const fresh = prompt.slice(cached);
    if (fresh.length > 1) await sequence.evaluateWithoutGeneratingNewTokens(fresh.slice(0, -1));
    const generated: Token[] = [];
    let firstTokenMs = 0;
    const tokens = sequence.evaluate(fresh.slice(-1), {
      temperature: OPTIONS.temperature,
      topK: OPTIONS.top_k,
      topP: OPTIONS.top_p,
      minP: OPTIONS.min_p,
      seed: OPTIONS.seed,
      repeatPenalty: {
        punishTokens: () => [...prompt, ...generated].slice(-OPTIONS.repeat_last_n),
        penalty: OPTIONS.repeat_penalty,
        presencePenalty: 0,
        frequencyPenalty: 0,
      },
    });
    for await (const token of tokens) {
      if (generated.length === 0) firstTokenMs = performance.now() - started;
      generated.push(token);
      if (generated.length >= maxTokens) break;
    }
    const totalMs = performance.now() - started;
    return { firstTokenMs, totalMs, tokens: generated.length, text: this.model.detokenize(generated) };
  }

  async close(): Promise<void> {
    await this.sequence.context.dispose();
    await this.model.dispose();
  }
}

/** The llama-cpp engine plugin called in this process, without HTTP or the API's routing. */
async function engineRun(engine: Engine, model: ModelSpec, tokens: number): Promise<Sample> {
  const started = performance.now();
  let firstTokenMs = 0;
  let text = '';
  let evalCount = -1;
  const request = { model, prompt: PROMPT, raw: true, options: { ...OPTIONS, num_predict: tokens }, keepAliveMs: -1, signal: new AbortController().signal };
  for await (const event of engine.generate(request)) {
    if (event.type === 'token') {
      if (firstTokenMs === 0) firstTokenMs = performance.now() - started;
      text += event.text;
    } else if (event.type === 'done') {
      evalCount = event.evalCount;
    }
  }
  return { firstTokenMs, totalMs: performance.now() - started, tokens: evalCount, text };
}

/** /api/generate over one keep-alive connection, raw prompt, the same options and token count. */
class ApiCompletion {
  constructor(
    private readonly client: Client,
    private readonly model: string,
  ) {}

  private body(stream: boolean, tokens: number): string {
    return JSON.stringify({ model: this.model, prompt: PROMPT, raw: true, stream, keep_alive: -1, options: { ...OPTIONS, num_predict: tokens } });
  }

  /** Streamed: the first NDJSON line with text is the first token, the `done` line ends the request. */
  async streamed(tokens: number): Promise<Sample> {
    const started = performance.now();
    const response = await this.client.request({ method: 'POST', path: '/api/generate', body: this.body(true, tokens) });
    if (response.statusCode !== 200) throw new Error(`/api/generate answered ${response.statusCode}: ${await response.body.text()}`);
    let firstTokenMs = 0;
    let totalMs = 0;
    let text = '';
    let evalCount = -1;
    let buffered = '';
    for await (const chunk of response.body) {
      buffered += (chunk as Buffer).toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as { response: string; done: boolean; eval_count?: number; error?: string };
        buffered = buffered.slice(newline + 1);
        if (line.error) throw new Error(`/api/generate failed: ${line.error}`);
        if (line.response && firstTokenMs === 0) firstTokenMs = performance.now() - started;
        text += line.response;
        if (line.done) {
          totalMs = performance.now() - started;
          evalCount = line.eval_count ?? -1;
        }
      }
    }
    return { firstTokenMs, totalMs, tokens: evalCount, text };
  }

  /** Not streamed: one JSON object when the request is done. */
  async whole(tokens: number): Promise<Sample> {
    const started = performance.now();
    const response = await this.client.request({ method: 'POST', path: '/api/generate', body: this.body(false, tokens) });
    const answer = (await response.body.json()) as { response: string; eval_count: number; error?: string };
    const totalMs = performance.now() - started;
    if (response.statusCode !== 200) throw new Error(`/api/generate answered ${response.statusCode}: ${answer.error}`);
    return { firstTokenMs: totalMs, totalMs, tokens: answer.eval_count, text: answer.response };
  }
}

/**
 * What HTTP alone costs here: a bare fastify route that answers one NDJSON line at once, over the
 * same kind of keep-alive connection, taking its turn among the other sides.
 */
class BareHttp {
  private constructor(
    private readonly app: FastifyInstance,
    private readonly client: Client,
  ) {}

  static async open(): Promise<BareHttp> {
    const app = Fastify({ logger: false });
    app.post('/api/generate', (_request, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' });
      reply.raw.end('{"response":"x","done":true}\n');
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return new BareHttp(app, new Client(url, { pipelining: 1 }));
  }

  async run(): Promise<Sample> {
    const started = performance.now();
    const response = await this.client.request({ method: 'POST', path: '/api/generate', body: JSON.stringify({ model: 'bare', prompt: PROMPT, stream: true, options: OPTIONS }) });
    let firstTokenMs = 0;
    for await (const _ of response.body) firstTokenMs ||= performance.now() - started;
    return { firstTokenMs, totalMs: performance.now() - started, tokens: 0, text: '' };
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.app.close();
  }
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/** Both sides must generate the same tokens, or the comparison says nothing. */
function checkSame(direct: Sample, other: Sample, what: string, tokens: number): void {
  if (direct.tokens !== tokens) throw new Error(`node-llama-cpp generated ${direct.tokens} of ${tokens} tokens (end of sequence): pick another seed`);
  if (other.tokens !== direct.tokens) throw new Error(`${what} generated ${other.tokens} tokens, node-llama-cpp ${direct.tokens}`);
  if (other.text !== direct.text) throw new Error(`${what} generated ${JSON.stringify(other.text)}, node-llama-cpp ${JSON.stringify(direct.text)}`);
}

interface Sides {
  llama: Llama;
  engine: Engine;
  node: TestNode;
  client: Client;
}

async function measureModel({ llama, engine, node, client }: Sides, gguf: TinyGgufOptions, requests: number, tokens: number) {
  const name = `bench-${gguf.embeddingLength ?? 64}x${gguf.layers ?? 2}`;
  const bytes = tinyGgufBytes(gguf);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const digest = await createTiny(node.url, name, {}, gguf);
  if (digest !== `sha256:${sha256}`) throw new Error('the node stored other bytes than the model generated here');
  // Every side maps the node's own blob: a copy of the same bytes can sit differently in the page
  // cache (folio sizes follow how the file was written) and compute at a different speed.
  const modelPath = storePaths(node.node.config.storage.model_dir).blob(digest);
  const spec = tinyModelSpec({ path: modelPath, size: bytes.length, sha256, parameters: parameterCount(gguf) }, `${name}:latest`);
  const direct = await DirectCompletion.open(llama, modelPath);
  const bare = await BareHttp.open();
  try {
    const api = new ApiCompletion(client, name);
    const sides = [() => direct.run(tokens), () => engineRun(engine, spec, tokens), () => api.streamed(tokens), () => api.whole(tokens), () => bare.run()];
    const labels = ['the engine plugin', 'streamed /api/generate', '/api/generate'];
    const warmUps = [() => direct.run(1), () => engineRun(engine, spec, 1), () => api.streamed(1), () => api.whole(1), () => bare.run()];
    for (let round = 0; round < JIT_WARM_UP; round++) for (const warmUp of warmUps) await warmUp();
    const samples: Sample[][] = sides.map(() => []);
    for (let round = 0; round < WARM_UP + requests; round++) {
      // Rotate the order so no side always runs right after the same other one.
      const results: Sample[] = [];
      for (let turn = 0; turn < sides.length; turn++) {
        const side = (round + turn) % sides.length;
        results[side] = await sides[side]!();
      }
      labels.forEach((label, index) => checkSame(results[0]!, results[index + 1]!, label, tokens));
      if (round >= WARM_UP) results.forEach((sample, side) => samples[side]!.push(sample));
    }
    const [directSamples, engineSamples, streamedSamples, wholeSamples, bareSamples] = samples as [Sample[], Sample[], Sample[], Sample[], Sample[]];
    return { sizeMiB: bytes.length / 2 ** 20, direct: directSamples, engine: engineSamples, streamed: streamedSamples, whole: wholeSamples, bare: bareSamples };
  } finally {
    await bare.close();
    await direct.close();
  }
}

export async function run(options: ApiLatencyOptions = {}): Promise<BenchmarkRow[]> {
  const { requests = 150, tokens = 32, models = [{}, { embeddingLength: 512, layers: 4 }] } = options;
  const llama = await getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: LlamaLogLevel.warn });
  const { config } = loadConfig({ env: { OLLAMA_LLAMA_GPU: 'off' } });
  const engine = llamaCpp(config.engine)({ logger: silentLogger(), config });
  let node: TestNode | undefined;
  let client: Client | undefined;
  try {
    await engine.start();
    node = await startTestNode({ env: { OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off', OLLAMA_KEEP_ALIVE: '-1' } });
    client = new Client(node.url, { pipelining: 1 });
    const rows: BenchmarkRow[] = [];
    for (const gguf of models) {
      const measured = await measureModel({ llama, engine, node, client }, gguf, requests, tokens);
      const label = `${gguf.embeddingLength ?? 64}x${gguf.layers ?? 2} F32 (${measured.sizeMiB.toFixed(1)} MiB), ${tokens} tokens`;
      const row = (name: string, product: Sample[], pick: (s: Sample) => number, q: number): BenchmarkRow => {
        const value = quantile(product.map(pick), q);
        const baseline = quantile(measured.direct.map(pick), q);
        return { name: `${label}: ${name}`, value, unit: 'ms', baseline, baselineName: 'node-llama-cpp direct', ratio: value / baseline, better: 'lower' };
      };
      rows.push(
        row('API time to first token, median', measured.streamed, (s) => s.firstTokenMs, 0.5),
        row('API whole request streamed, median', measured.streamed, (s) => s.totalMs, 0.5),
        row('API whole request streamed, p90', measured.streamed, (s) => s.totalMs, 0.9),
        row('API request not streamed, median', measured.whole, (s) => s.totalMs, 0.5),
        row('engine plugin without HTTP, median', measured.engine, (s) => s.totalMs, 0.5),
        row('engine plugin time to first token, median', measured.engine, (s) => s.firstTokenMs, 0.5),
        row('bare HTTP round trip (no engine), median', measured.bare, (s) => s.firstTokenMs, 0.5),
      );
    }
    return rows;
  } finally {
    await client?.close();
    // The engine maps a blob in the node's data dir, which the node removes when it stops.
    await engine.stop();
    await node?.stop();
    await llama.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
