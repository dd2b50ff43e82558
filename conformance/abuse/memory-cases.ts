// Memory from options: num_ctx, num_batch and num_parallel that would have a load allocate tens of
// gigabytes. A node caps them, or refuses with a 4xx when a load cannot fit; it never dies of them.

import { prepareTinyModel } from '../ollama-api/index.js';
import { servedOrRefused, type AbuseRun } from './harness.js';
import { send } from './raw-http.js';

const BOMB = 2_000_000_000;
/** A tiny model that claims a trained context of 2e9 tokens: capping at it does not save a node. */
const LONG_CONTEXT = { contextLength: BOMB, seed: 20_000 };

const generate = (model: string, options: Record<string, number>) => ({ model, prompt: 'hello', stream: false, options: { num_predict: 2, ...options } });

export function memoryCases(run: AbuseRun): void {
  run.attack('options.num_ctx 2e9 on /api/generate, /api/chat and /api/embed', {}, async (t, { url, target, signal }) => {
    servedOrRefused(t, await send(url, '/api/generate', { body: generate(target.model, { num_ctx: BOMB }), signal }), 'generate');
    const chat = { model: target.model, messages: [{ role: 'user', content: 'hello' }], stream: false, options: { num_ctx: BOMB, num_predict: 2 } };
    servedOrRefused(t, await send(url, '/api/chat', { body: chat, signal }), 'chat');
    servedOrRefused(t, await send(url, '/api/embed', { body: { model: target.model, input: 'hello', options: { num_ctx: BOMB } }, signal }), 'embed');
  });

  run.attack('num_ctx 2e9 saved in a model through /api/create, then used', {}, async (t, { url, target, signal, scratch }) => {
    const model = scratch('ctx-bomb');
    const created = await send(url, '/api/create', { body: { model, from: target.model, parameters: { num_ctx: BOMB }, stream: false }, signal });
    servedOrRefused(t, created, 'create');
    if (created.status === 200) servedOrRefused(t, await send(url, '/api/generate', { body: generate(model, {}), signal }), 'generate on it');
  });

  run.attack(
    'a model trained for 2e9 tokens of context, asked for all of them',
    { limitMs: 30_000 },
    async (t, { url, signal, scratch }) => {
      const model = scratch('long');
      await prepareTinyModel(url, model, LONG_CONTEXT);
      t.equal((await send(url, '/api/generate', { body: generate(model, { num_ctx: 2048 }), signal })).status, 200, 'it runs with a context that fits');
      servedOrRefused(t, await send(url, '/api/generate', { body: generate(model, { num_ctx: BOMB }), signal }), 'with num_ctx 2e9');
    },
  );

  run.attack('options.num_batch 2e9', {}, async (t, { url, target, signal }) => {
    servedOrRefused(t, await send(url, '/api/generate', { body: generate(target.model, { num_batch: BOMB }), signal }), 'generate');
  });

  run.attack(
    'OLLAMA_NUM_PARALLEL 256 with a 1M-token default context',
    {
      unsupported: (target) => (target.node ? undefined : 'needs a node of its own with OLLAMA_NUM_PARALLEL=256, which only a local target can start'),
      variant: { OLLAMA_NUM_PARALLEL: '256', OLLAMA_CONTEXT_LENGTH: String(1 << 20) },
      limitMs: 30_000,
    },
    async (t, { url, signal }) => {
      await prepareTinyModel(url, 'long', LONG_CONTEXT);
      servedOrRefused(t, await send(url, '/api/generate', { body: generate('long', {}), signal }), 'generate');
    },
  );
}
