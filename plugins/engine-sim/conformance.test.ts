import t from 'tap';
import { engineConformance } from '../../conformance/engine/index.js';
import { loadConfig } from '../../core/config/load.js';
import { silentLogger } from '../../core/log.js';
import { sim } from './index.js';
import { simModel } from './model-spec.js';

const { config } = loadConfig({ env: {} });
const options = { load_ms: 2, load_bytes_per_second: 1e12, ttft_ms: 1, tokens_per_second: 1000, response_tokens: 16 };

engineConformance(t, {
  async setup() {
    const engine = sim({ ...config.engine, options })({ logger: silentLogger(), config });
    return { engine, model: simModel('sim-tiny:latest', 64 * 2 ** 20) };
  },
  async teardown() {},
});
