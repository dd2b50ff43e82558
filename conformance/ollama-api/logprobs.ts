// Exact-behaviour checks of the Ollama API suite on log probabilities: api/types.go's Logprob and
// TokenLogprob on generate and chat (server/logprob.go adds each token's bytes), and openai.go's
// ChoiceLogprobs on /v1/chat/completions; each left out when not asked for.

import type { Test } from 'tap';
import { call, MESSAGES, type Endpoint, type Json } from './index.js';

/** Sampled, so the alternatives have probabilities of their own. */
const OPTIONS = { num_predict: 4, temperature: 0.8, seed: 7 };
const TOP = 3;

function checkTokenLogprob(t: Test, entry: Json, what: string): void {
  t.type(entry.token, 'string', `${what}: token`);
  t.ok(typeof entry.logprob === 'number' && entry.logprob <= 0, `${what}: logprob ${entry.logprob} is a log probability`);
  if (entry.token === '') t.notOk('bytes' in entry, `${what}: no bytes for an empty token`);
  else t.same(entry.bytes, [...Buffer.from(entry.token, 'utf8')], `${what}: bytes are the token's UTF-8`);
}

function checkLogprobs(t: Test, logprobs: unknown, top: number, what: string): void {
  t.ok(Array.isArray(logprobs) && logprobs.length > 0, `${what}: a list`);
  for (const [i, entry] of ((logprobs ?? []) as Json[]).entries()) {
    checkTokenLogprob(t, entry, `${what}[${i}]`);
    const keys = ['token', 'logprob', ...('bytes' in entry ? ['bytes'] : []), ...(top > 0 ? ['top_logprobs'] : [])];
    t.same(Object.keys(entry), keys, `${what}[${i}]: fields in Ollama's order`);
    if (top === 0) continue;
    const alternatives = entry.top_logprobs as Json[];
    t.ok(alternatives.length > 0 && alternatives.length <= top, `${what}[${i}]: 1..${top} alternatives`);
    alternatives.forEach((alt, j) => checkTokenLogprob(t, alt, `${what}[${i}].top_logprobs[${j}]`));
    t.ok(alternatives.every((alt, j) => j === 0 || alt.logprob <= alternatives[j - 1]!.logprob), `${what}[${i}]: most likely first`);
  }
}

export function logprobsChecks(endpoint: Endpoint): void {
  endpoint('logprobs and top_logprobs', (check) => {
    check('generate: one Logprob per generated token, top_logprobs when asked, none unasked', async (t, { url, model }) => {
      const scored = await call(url, '/api/generate', { model, prompt: 'Once', stream: false, logprobs: true, top_logprobs: TOP, options: OPTIONS });
      t.equal(scored.status, 200);
      checkLogprobs(t, scored.body.logprobs, TOP, 'logprobs');
      t.ok(scored.body.logprobs.length <= scored.body.eval_count, 'no more entries than generated tokens');
      const keys = Object.keys(scored.body);
      t.ok(keys.indexOf('logprobs') > keys.indexOf('done_reason') && keys.indexOf('logprobs') < keys.indexOf('total_duration'), 'after done_reason, before the metrics');
      const bare = await call(url, '/api/generate', { model, prompt: 'Once', stream: false, logprobs: true, options: OPTIONS });
      checkLogprobs(t, bare.body.logprobs, 0, 'without top_logprobs');
      const unasked = await call(url, '/api/generate', { model, prompt: 'Once', stream: false, top_logprobs: TOP, options: OPTIONS });
      t.notOk('logprobs' in unasked.body, 'top_logprobs alone asks for nothing');
    });

    check('chat: streamed lines carry the logprobs of their content', async (t, { url, model }) => {
      const response = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ model, messages: MESSAGES, logprobs: true, top_logprobs: 1, options: OPTIONS }) });
      const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as Json);
      const scored = lines.filter((line) => 'logprobs' in line);
      t.ok(scored.length > 0, 'some lines carry logprobs');
      scored.forEach((line, i) => checkLogprobs(t, line.logprobs, 1, `line ${i}`));
      const keys = Object.keys(scored[0] ?? {});
      t.same(keys.slice(0, 5), ['model', 'created_at', 'message', 'done', 'logprobs'], 'ChatResponse field order');
    });

    check('/v1/chat/completions: choices[0].logprobs.content, absent unasked', async (t, { url, model }) => {
      const body = { model, messages: MESSAGES, max_tokens: 4, temperature: 0.8, seed: 7 };
      const scored = await call(url, '/v1/chat/completions', { ...body, logprobs: true, top_logprobs: 2 });
      t.equal(scored.status, 200);
      t.same(Object.keys(scored.body.choices[0].logprobs ?? {}), ['content']);
      checkLogprobs(t, scored.body.choices[0].logprobs?.content, 2, 'content');
      const unasked = await call(url, '/v1/chat/completions', body);
      t.notOk('logprobs' in unasked.body.choices[0], 'no logprobs key unasked');
    });
  });
}
