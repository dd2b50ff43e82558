import t from 'tap';
import { loadConfig } from '../../core/config/load.js';
import { ProductError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { sim } from './index.js';
import { parseSimOptions, SIM_DEFAULTS } from './options.js';

t.test('defaults apply where an option is not given', async (t) => {
  t.same(parseSimOptions({}), SIM_DEFAULTS);
  t.same(parseSimOptions({ tokens_per_second: 120, prompt_cache: false }), { ...SIM_DEFAULTS, tokens_per_second: 120, prompt_cache: false });
});

t.test('a bad or unknown option is a config error naming engine.options.<key>', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ tokens_per_second: 0 }, /engine\.options\.tokens_per_second = 0: must be a number > 0/],
    [{ load_ms: -1 }, /engine\.options\.load_ms = -1: must be a number >= 0/],
    [{ gpus: 1.5 }, /engine\.options\.gpus = 1\.5: must be an integer >= 0/],
    [{ prompt_cache: 'yes' }, /engine\.options\.prompt_cache = "yes": must be true or false/],
    [{ embedding_dim: 0 }, /engine\.options\.embedding_dim = 0: must be an integer >= 1/],
    [{ token_per_second: 10 }, /engine\.options\.token_per_second: unknown option; known: load_ms, /],
  ];
  for (const [raw, message] of cases) {
    t.throws(() => parseSimOptions(raw), { code: 'OD_ERR_CONFIG', message }, JSON.stringify(raw));
  }
  const both = (() => {
    try {
      parseSimOptions({ gpus: -1, ttft_ms: 'x' });
    } catch (error) {
      return error;
    }
  })();
  t.ok(both instanceof ProductError && /gpus[\s\S]*ttft_ms/.test(both.message), 'every problem is listed');
});

t.test('the plugin checks its options when built, before any component exists', async (t) => {
  const { config } = loadConfig({ env: {} });
  t.throws(() => sim({ ...config.engine, options: { vram_bytes: 'lots' } }), { code: 'OD_ERR_CONFIG' });
  const engine = sim({ ...config.engine, options: {} })({ logger: silentLogger(), config });
  t.equal(engine.name, 'sim');
});
