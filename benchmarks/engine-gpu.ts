// The llama-cpp engine on this machine's GPU against the same engine on its CPU, in one run:
// same random-weight model, prompt and options. Tells whether layers really go to the GPU.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tinyModelSpec, writeTinyGguf } from '../conformance/fixtures/tiny-gguf.js';
import { loadConfig } from '../core/config/load.js';
import type { Engine, GenerateRequest, ModelSpec, RunEvent } from '../core/contracts/engine.js';
import { silentLogger } from '../core/log.js';
import { llamaCpp } from '../plugins/engine-llama-cpp/index.js';
import { BenchmarkUnavailable, formatRow, type BenchmarkRow } from './row.js';

export interface EngineGpuOptions {
  /** GPU backend to compare with the CPU: auto, cuda or vulkan. */
  gpu?: 'auto' | 'cuda' | 'vulkan';
  embeddingLength?: number;
  layers?: number;
  tokens?: number;
}

interface RunFigures {
  tokensPerSecond: number;
  firstTokenMs: number;
  sizeVram: number;
  gpus: string[];
}

async function measure(engine: Engine, model: ModelSpec, tokens: number): Promise<Omit<RunFigures, 'gpus' | 'sizeVram'>> {
  const request = (num_predict: number): GenerateRequest => ({
    model,
    prompt: 'The quick brown fox jumps over the lazy dog. '.repeat(4),
    raw: true,
    options: { num_predict, seed: 7, temperature: 0 },
    keepAliveMs: -1,
    signal: new AbortController().signal,
  });
  for await (const _ of engine.generate(request(4))) void _; // load and warm up
  const started = performance.now();
  let firstTokenMs = 0;
  let done: Extract<RunEvent, { type: 'done' }> | undefined;
  for await (const event of engine.generate(request(tokens))) {
    if (event.type === 'token' && firstTokenMs === 0) firstTokenMs = performance.now() - started;
    if (event.type === 'done') done = event;
  }
  if (!done || done.evalCount === 0) throw new Error('the engine generated nothing');
  return { tokensPerSecond: done.evalCount / (done.evalDuration / 1e9), firstTokenMs };
}

async function runOn(gpu: 'auto' | 'cuda' | 'vulkan' | 'off', model: ModelSpec, tokens: number): Promise<RunFigures> {
  const { config } = loadConfig({ env: { OLLAMA_LLAMA_GPU: gpu } });
  const engine = llamaCpp(config.engine)({ logger: silentLogger(), config });
  await engine.start();
  try {
    const gpus = (await engine.gpus()).map((g) => `${g.name} (${g.backend}, ${Math.round(g.vramTotal / 2 ** 30)} GiB)`);
    const figures = await measure(engine, model, tokens);
    const sizeVram = engine.loaded().reduce((sum, m) => sum + m.sizeVram, 0);
    return { ...figures, sizeVram, gpus };
  } finally {
    await engine.stop();
  }
}

export async function run(options: EngineGpuOptions = {}): Promise<BenchmarkRow[]> {
  const { gpu = 'auto', embeddingLength = 1024, layers = 8, tokens = 256 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'engine-gpu-'));
  try {
    const gguf = await writeTinyGguf(join(dir, 'model.gguf'), { embeddingLength, layers });
    const model = tinyModelSpec(gguf, 'bench:latest');
    const onGpu = await runOn(gpu, model, tokens);
    if (onGpu.gpus.length === 0 || onGpu.sizeVram === 0) throw new BenchmarkUnavailable('no GPU took the model on this machine');
    const onCpu = await runOn('off', model, tokens);
    const label = `${onGpu.gpus.join(', ')}; ${(gguf.size / 2 ** 20).toFixed(0)} MiB F32 model`;
    return [
      { name: `decode, ${label}`, value: onGpu.tokensPerSecond, unit: 'tokens/s', baseline: onCpu.tokensPerSecond, baselineName: 'same engine on CPU', ratio: onGpu.tokensPerSecond / onCpu.tokensPerSecond, better: 'higher' },
      { name: 'time to first token', value: onGpu.firstTokenMs, unit: 'ms', baseline: onCpu.firstTokenMs, baselineName: 'same engine on CPU', ratio: onGpu.firstTokenMs / onCpu.firstTokenMs, better: 'lower' },
      { name: 'model bytes in VRAM', value: onGpu.sizeVram / 2 ** 20, unit: 'MiB', baseline: gguf.size / 2 ** 20, baselineName: 'model file', ratio: onGpu.sizeVram / gguf.size, better: 'higher' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const gpu = (process.argv[2] ?? 'auto') as EngineGpuOptions['gpu'];
  for (const row of await run({ gpu })) console.log(formatRow(row));
}
