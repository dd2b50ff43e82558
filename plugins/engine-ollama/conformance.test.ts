// The shared engine conformance suite run on the ollama engine, with a second node running
// llama.cpp in this process as its daemon and the tiny model uploaded to it by the engine.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { engineConformance } from '../../conformance/engine/index.js';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { tinyModelSpec, writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { ollamaEngine } from './index.js';

// The daemon is a second node running llama.cpp in this process. node-llama-cpp checks its binary
// in a forked process on start; inheriting tap's loader hooks makes that fork take seconds.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const daemon = await startTestNode({
  env: { OLLAMA_ENGINE: 'llama-cpp', OLLAMA_LLAMA_GPU: 'off', OLLAMA_CONTEXT_LENGTH: '2048', OLLAMA_NUM_THREAD: '1' },
});
t.teardown(() => daemon.stop());
const dir = await mkdtemp(join(tmpdir(), 'engine-ollama-conformance-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// A file outside any store: the engine uploads it and creates the model on the daemon itself.
const model = tinyModelSpec(await writeTinyGguf(join(dir, 'tiny.gguf')));
const { config } = loadConfig({ env: { OLLAMA_ENGINE_OLLAMA_URL: daemon.url } });

engineConformance(t, {
  async setup() {
    return { engine: ollamaEngine(config.engine)({ logger: silentLogger(), config }), model };
  },
  async teardown() {},
});
