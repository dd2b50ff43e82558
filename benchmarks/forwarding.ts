// What forwarding adds: the same streamed /api/generate on a fast sim engine, taking turns, (a) the
// engine called directly in this process, (b) through the node holding the model, (c) through a
// node forwarding to it over HTTP, (d) through one forwarding over a libp2p stream.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from 'undici';
import { startTestNode, type TestNode } from '../conformance/fixtures/node.js';
import { createTiny } from '../core/api/ollama/test-support.js';
import type { ClusterView } from '../core/cluster/types.js';
import { loadConfig } from '../core/config/load.js';
import type { Engine, ModelSpec } from '../core/contracts/engine.js';
import type { ModelStore } from '../core/contracts/storage.js';
import type { Transport } from '../core/contracts/transport.js';
import { silentLogger } from '../core/log.js';
import { parseModelName } from '../core/models/name.js';
import { modelSpec } from '../core/models/spec.js';
import { sim } from '../plugins/engine-sim/index.js';
import { formatRow, type BenchmarkRow } from './row.js';

export interface ForwardingOptions {
  /** Measured requests per side, after the warm-up. */
  requests?: number;
}

const WARM_UP = 20;
const PROMPT = 'The quick brown fox jumps over the lazy dog.';
const TOKENS = 16;
/** A sim fast enough that what the API and the forward cost shows: 1 ms a token, nothing to load. */
const SIM_OPTIONS = { load_ms: 0, ttft_ms: 1, prompt_tokens_per_second: 1_000_000, tokens_per_second: 1000, response_tokens: 1000 };
const BODY = JSON.stringify({ model: 'bench', prompt: PROMPT, raw: true, keep_alive: -1, options: { num_predict: TOKENS } });

interface Sample {
  firstTokenMs: number;
  totalMs: number;
  text: string;
}

async function direct(engine: Engine, model: ModelSpec): Promise<Sample> {
  const started = performance.now();
  let firstTokenMs = 0;
  let text = '';
  const request = { model, prompt: PROMPT, raw: true, options: { num_predict: TOKENS }, keepAliveMs: -1, signal: new AbortController().signal };
  for await (const event of engine.generate(request)) {
    if (event.type !== 'token') continue;
    if (text === '') firstTokenMs = performance.now() - started;
    text += event.text;
  }
  return { firstTokenMs, totalMs: performance.now() - started, text };
}

/** Streamed /api/generate over one keep-alive connection: the first line with text is the first token. */
async function streamed(client: Client): Promise<Sample> {
  const started = performance.now();
  const response = await client.request({ method: 'POST', path: '/api/generate', body: BODY });
  if (response.statusCode !== 200) throw new Error(`/api/generate answered ${response.statusCode}: ${await response.body.text()}`);
  let firstTokenMs = 0;
  let text = '';
  let buffered = '';
  for await (const chunk of response.body) {
    buffered += (chunk as Buffer).toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as { response: string; error?: string };
      buffered = buffered.slice(newline + 1);
      if (line.error) throw new Error(`/api/generate failed: ${line.error}`);
      if (line.response && text === '') firstTokenMs = performance.now() - started;
      text += line.response;
    }
  }
  return { firstTokenMs, totalMs: performance.now() - started, text };
}

const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function run(options: ForwardingOptions = {}): Promise<BenchmarkRow[]> {
  const { requests = 300 } = options;
  const dir = mkdtempSync(join(tmpdir(), 'od-bench-forward-'));
  const configFile = join(dir, 'node.yaml');
  writeFileSync(configFile, `engine:\n  name: sim\n  options: ${JSON.stringify(SIM_OPTIONS)}\n`);
  const { config } = loadConfig({ file: configFile });
  const engine = sim(config.engine)({ logger: silentLogger(), config });
  const nodes: TestNode[] = [];
  const clients: Client[] = [];
  try {
    const start = async (name: string, env: Record<string, string>) => {
      const node = await startTestNode({ configFile, env: { OLLAMA_NODE_NAME: name, OLLAMA_KEEP_ALIVE: '-1', ...env } });
      nodes.push(node);
      return node;
    };
    const holder = await start('holder', {});
    const bootstrap = holder.node.component<Transport>('transport').addresses()[0]!;
    const viaHttp = await start('via-http', { OLLAMA_P2P_BOOTSTRAP: bootstrap, OLLAMA_P2P_FORWARD: 'http' });
    const viaLibp2p = await start('via-libp2p', { OLLAMA_P2P_BOOTSTRAP: bootstrap, OLLAMA_P2P_FORWARD: 'libp2p' });
    await createTiny(holder.url, 'bench');
    for (const node of [viaHttp, viaLibp2p]) {
      await until(() => node.node.component<ClusterView>('cluster').holders('bench:latest').length === 1, 'the model announced');
    }
    const store = holder.node.component<ModelStore>('storage');
    const spec = await modelSpec(store, (await store.getModel(parseModelName('bench')))!);
    await engine.start?.();
    const client = (node: TestNode) => {
      const opened = new Client(node.url, { pipelining: 1 });
      clients.push(opened);
      return opened;
    };
    const [local, http, libp2p] = [client(holder), client(viaHttp), client(viaLibp2p)];
    const sides = [() => direct(engine, spec), () => streamed(local), () => streamed(http), () => streamed(libp2p)];
    const samples: Sample[][] = sides.map(() => []);
    for (let round = 0; round < WARM_UP + requests; round++) {
      const results: Sample[] = [];
      // Rotate the order so no side always runs right after the same other one.
      for (let turn = 0; turn < sides.length; turn++) {
        const side = (round + turn) % sides.length;
        results[side] = await sides[side]!();
      }
      for (const result of results.slice(1)) {
        if (result.text !== results[0]!.text) throw new Error(`a side generated ${JSON.stringify(result.text)}, the engine ${JSON.stringify(results[0]!.text)}`);
      }
      if (round >= WARM_UP) results.forEach((sample, side) => samples[side]!.push(sample));
    }
    const [engineSamples, localSamples, httpSamples, libp2pSamples] = samples as [Sample[], Sample[], Sample[], Sample[]];
    const row = (name: string, product: Sample[], baseline: Sample[], baselineName: string, pick: (s: Sample) => number, q: number): BenchmarkRow => {
      const value = quantile(product.map(pick), q);
      const base = quantile(baseline.map(pick), q);
      return { name: `${TOKENS} tokens streamed, ${name}`, value, unit: 'ms', baseline: base, baselineName, ratio: value / base, better: 'lower' };
    };
    const total = (s: Sample) => s.totalMs;
    const first = (s: Sample) => s.firstTokenMs;
    const rows: BenchmarkRow[] = [];
    for (const [label, side, base, baseName] of [
      ['through the holding node', localSamples, engineSamples, 'sim engine direct'],
      ['forwarded over HTTP', httpSamples, localSamples, 'served locally'],
      ['forwarded over libp2p', libp2pSamples, localSamples, 'served locally'],
      ['forwarded over libp2p', libp2pSamples, httpSamples, 'forwarded over HTTP'],
    ] as const) {
      rows.push(
        row(`${label}: whole request, median`, side, base, baseName, total, 0.5),
        row(`${label}: whole request, p99`, side, base, baseName, total, 0.99),
        row(`${label}: time to first token, median`, side, base, baseName, first, 0.5),
      );
    }
    return rows;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await engine.stop?.();
    for (const node of nodes.reverse()) await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const row of await run()) console.log(formatRow(row));
}
