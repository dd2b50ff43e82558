// The benchmark harness behind `npm run bench`: runs each scenario (or those named on the command
// line) and prints every figure beside its baseline from the same run, with the machine it ran on.

import { cpus, totalmem } from 'node:os';
import { BenchmarkUnavailable, formatRow, type BenchmarkRow } from './row.js';

const SCENARIOS: Record<string, () => Promise<BenchmarkRow[]>> = {
  'wasm-score': async () => (await import('./wasm-score.js')).run(),
  'engine-gpu': async () => (await import('./engine-gpu.js')).run(),
  'registry-pull': async () => (await import('./registry-pull.js')).run(),
  'api-latency': async () => (await import('./api-latency.js')).run(),
  forwarding: async () => (await import('./forwarding.js')).run(),
  consensus: async () => (await import('./consensus.js')).run(),
  'sim-cluster': async () => (await import('./sim-cluster.js')).run(),
  failover: async () => (await import('./failover.js')).run(),
  'chunk-hash': async () => (await import('./chunk-hash.js')).run(),
  distribution: async () => (await import('./distribution.js')).run(),
  auth: async () => (await import('./auth.js')).run(),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in SCENARIOS));
if (unknown.length > 0) {
  console.error(`Error: unknown scenario ${unknown.join(', ')}; scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}

console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
for (const [name, run] of Object.entries(SCENARIOS)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  try {
    for (const row of await run()) console.log(formatRow(row));
  } catch (error) {
    if (error instanceof BenchmarkUnavailable) {
      console.log(`not run here: ${error.message}`);
      continue;
    }
    console.log(`failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
