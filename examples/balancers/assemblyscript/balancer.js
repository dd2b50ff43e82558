// A balancer plugin whose score runs in WebAssembly: build assembly/score.ts with
//   npx asc assembly/score.ts --outFile score.wasm --optimizeLevel 3 --runtime stub
// next to this file, then point scheduler.algorithm at this file. The module is instantiated
// synchronously at start, since pickNode may not wait.

import { readFileSync } from 'node:fs';

export const meta = { name: 'wasm-wait', kind: 'balancer', provides: ['balancer'], requires: [] };

export default function wasmWait(init) {
  const outputTokens = init?.options?.output_tokens ?? 256;
  const module = new WebAssembly.Module(readFileSync(new URL('./score.wasm', import.meta.url)));
  const { waitMs } = new WebAssembly.Instance(module, { env: { abort: () => { throw new Error('score.wasm aborted'); } } }).exports;
  return () => ({
    name: meta.name,
    deterministic: true,
    pickNode(_request, candidates) {
      let best;
      let bestWait = Infinity;
      for (const c of candidates) {
        const wait = waitMs(c.modelRequests, c.load.slots, c.load.tokensPerSecond, outputTokens);
        if (best === undefined || wait < bestWait) [best, bestWait] = [c, wait];
      }
      return best;
    },
  });
}
