// Exact-behaviour checks of the Ollama API suite on token counts: Ollama reports the whole prompt's
// length in prompt_eval_count (and /v1 usage.prompt_tokens), whatever part of it the prompt cache held.

import { call, MESSAGES, OPTIONS, type Endpoint } from './index.js';

const TIMES = 3;
/** Not the /api/chat check's messages, so the first /v1 request finds no whole prompt cached. */
const V1_MESSAGES = [{ role: 'user' as const, content: 'Count the tokens of this prompt.' }];

export function tokenCounts(endpoint: Endpoint): void {
  endpoint('token counts', (check) => {
    check('the same /api/chat three times reports the same prompt_eval_count', async (t, { url, model }) => {
      const counts: number[] = [];
      for (let i = 0; i < TIMES; i++) {
        const { status, body } = await call(url, '/api/chat', { model, messages: MESSAGES, stream: false, options: OPTIONS });
        t.equal(status, 200);
        counts.push(body.prompt_eval_count);
      }
      t.ok(counts[0]! > 0, `prompt_eval_count ${counts[0]} > 0`);
      t.same(counts, Array(TIMES).fill(counts[0]), `prompt_eval_count ${counts.join(', ')}`);
    });

    check('the same /v1/chat/completions three times reports the same usage.prompt_tokens', async (t, { url, model }) => {
      const counts: number[] = [];
      for (let i = 0; i < TIMES; i++) {
        const { status, body } = await call(url, '/v1/chat/completions', { model, messages: V1_MESSAGES, max_tokens: OPTIONS.num_predict, temperature: 0, seed: OPTIONS.seed });
        t.equal(status, 200);
        counts.push(body.usage.prompt_tokens);
        t.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens, 'total_tokens is prompt plus completion');
      }
      t.ok(counts[0]! > 0, `usage.prompt_tokens ${counts[0]} > 0`);
      t.same(counts, Array(TIMES).fill(counts[0]), `usage.prompt_tokens ${counts.join(', ')}`);
      // Ollama's /v1 middleware turns the request into the same /api/chat request, so the same prompt.
      const { body } = await call(url, '/api/chat', { model, messages: V1_MESSAGES, stream: false, options: OPTIONS });
      t.equal(counts[0], body.prompt_eval_count, 'usage.prompt_tokens is /api/chat prompt_eval_count for the same messages');
    });
  });
}
