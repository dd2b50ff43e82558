// Requests that used to freeze every endpoint: model loads, prompts far past any context (tokenized
// on the main thread) and bodies of tens of megabytes (parsed on it). /api/version must keep answering.

import { servedOrRefused, type AbuseRun } from './harness.js';
import { send } from './raw-http.js';

const BIG_PROMPT_BYTES = 30_000_000;
const MESSAGES = 22_000;
const MESSAGE_BYTES = 1_000;

export function eventLoopCases(run: AbuseRun): void {
  run.attack('loading a model, again and again (keep_alive 0)', {}, async (t, { url, target, signal }) => {
    for (let load = 1; load <= 3; load++) {
      const body = { model: target.model, prompt: 'hi', keep_alive: 0, stream: false, options: { num_predict: 1 } };
      t.equal((await send(url, '/api/generate', { body, signal })).status, 200, `load ${load} generates`);
    }
  });

  run.attack("a prompt of 300,000 'a's", {}, async (t, { url, target, signal }) => {
    const body = { model: target.model, prompt: 'a'.repeat(300_000), stream: false, options: { num_predict: 1 } };
    servedOrRefused(t, await send(url, '/api/generate', { body, signal }), 'generate');
  });

  run.attack(
    'a 30 MB prompt body',
    { prepare: (target) => Buffer.from(JSON.stringify({ model: target.model, prompt: 'a'.repeat(BIG_PROMPT_BYTES), stream: false, options: { num_predict: 1 } })) },
    async (t, { url, signal }, body) => {
      servedOrRefused(t, await send(url, '/api/generate', { body, signal }), `generate (${(body.length / 1e6).toFixed(1)} MB)`);
    },
  );

  run.attack(
    'a 22 MB messages body',
    {
      prepare: (target) => {
        const messages = Array.from({ length: MESSAGES }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${i} ${'b'.repeat(MESSAGE_BYTES)}` }));
        return Buffer.from(JSON.stringify({ model: target.model, messages, stream: false, options: { num_predict: 1 } }));
      },
    },
    async (t, { url, signal }, body) => {
      servedOrRefused(t, await send(url, '/api/chat', { body, signal }), `chat (${(body.length / 1e6).toFixed(1)} MB)`);
    },
  );
}
