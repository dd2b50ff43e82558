import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { engineConformance } from '../../conformance/engine/index.js';
import { tinyModelSpec, writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { llamaCpp } from './index.js';

// node-llama-cpp checks its binary in a forked process on every start; inheriting tap's loader
// hooks makes each fork take seconds. The fork needs none of them.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const { config } = loadConfig({ env: {} });
const dir = await mkdtemp(join(tmpdir(), 'engine-llama-cpp-conformance-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const model = tinyModelSpec(await writeTinyGguf(join(dir, 'tiny.gguf')));
const section = { ...config.engine, llama_cpp: { ...config.engine.llama_cpp, num_ctx: 2048, threads: 1 } };

engineConformance(t, {
  async setup() {
    return { engine: llamaCpp(section)({ logger: silentLogger(), config }), model };
  },
  async teardown() {},
});
