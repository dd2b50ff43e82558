// Thinking through the API on the sim engine, as Ollama's handlers do it: the capability in show,
// `thinking` apart from the answer (streamed and whole), think's values and errors, and /v1 reasoning.

import t, { type Test } from 'tap';
import { THINKING_TEMPLATE } from '../../../conformance/fixtures/templates.js';
import { SIM_DEFAULTS } from '../../../plugins/engine-sim/options.js';
import { createTiny, ndjson, nodeFor, post, postJson } from './test-support.js';

const ENV = { OLLAMA_ENGINE: 'sim' };
const THOUGHTS = SIM_DEFAULTS.thinking_tokens;
/** Enough for every thought and three words of answer. */
const OPTIONS = { num_predict: THOUGHTS + 3 };
const MESSAGES = [{ role: 'user', content: 'Why is the sky blue?' }];
const words = (text: string) => text.split(' ').filter((word) => word !== '');

async function thinkingNode(t: Test) {
  const node = await nodeFor(t, ENV);
  await createTiny(node.url, 'plain');
  await createTiny(node.url, 'thinker', { template: THINKING_TEMPLATE });
  return node;
}

t.test('/api/show lists thinking for a model whose template renders .Thinking, only for it', async (t) => {
  const { url } = await thinkingNode(t);
  t.ok((await postJson(url, '/api/show', { model: 'thinker' })).body.capabilities.includes('thinking'));
  t.notOk((await postJson(url, '/api/show', { model: 'plain' })).body.capabilities.includes('thinking'));
});

t.test('chat streams thinking in chunks of its own before the answer; a model that thinks does so by default', async (t) => {
  const { url } = await thinkingNode(t);
  const lines = await ndjson(await post(url, '/api/chat', { model: 'thinker', messages: MESSAGES, options: OPTIONS }));
  const parts = lines.slice(0, -1).map((line) => line.message);
  const thinking = parts.filter((message) => 'thinking' in message);
  t.equal(thinking.length, THOUGHTS, 'one chunk per thought');
  for (const message of thinking) t.same(Object.keys(message), ['role', 'content', 'thinking'], 'thinking chunks: role, content, thinking');
  t.ok(thinking.every((message) => message.content === '' && message.thinking !== ''), 'their content is empty');
  const answer = parts.slice(THOUGHTS);
  t.equal(answer.length, 3, 'then the answer');
  t.ok(answer.every((message) => !('thinking' in message) && message.content !== ''), 'answer chunks carry no thinking field');
  t.same(Object.keys(lines.at(-1).message), ['role', 'content'], 'the final chunk carries neither');

  const whole = await postJson(url, '/api/chat', { model: 'thinker', messages: MESSAGES, options: OPTIONS, stream: false });
  t.same(Object.keys(whole.body.message), ['role', 'content', 'thinking']);
  t.equal(whole.body.message.thinking, thinking.map((message) => message.thinking).join(''), 'whole, thinking is what streamed');
  t.equal(whole.body.message.content, answer.map((message) => message.content).join(''));
  t.equal(whole.body.eval_count, THOUGHTS + 3, 'thinking counts as evaluated tokens');
});

t.test('think false answers without thinking; every level and true think', async (t) => {
  const { url } = await thinkingNode(t);
  const off = await postJson(url, '/api/chat', { model: 'thinker', messages: MESSAGES, options: OPTIONS, think: false, stream: false });
  t.same(Object.keys(off.body.message), ['role', 'content']);
  t.equal(words(off.body.message.content).length, THOUGHTS + 3, 'all of it is answer');
  for (const think of [true, 'low', 'medium', 'high', 'max']) {
    const on = await postJson(url, '/api/chat', { model: 'thinker', messages: MESSAGES, options: OPTIONS, think, stream: false });
    t.equal(words(on.body.message.thinking ?? '').length, THOUGHTS, `think ${JSON.stringify(think)}`);
  }
  const plain = await postJson(url, '/api/chat', { model: 'plain', messages: MESSAGES, options: OPTIONS, think: false, stream: false });
  t.equal(plain.status, 200, 'think false is fine for a model that does not think');
});

t.test('generate puts thinking in `thinking`, after `response`', async (t) => {
  const { url } = await thinkingNode(t);
  const lines = await ndjson(await post(url, '/api/generate', { model: 'thinker', prompt: 'Why?', options: OPTIONS }));
  t.same(Object.keys(lines[0]), ['model', 'created_at', 'response', 'thinking', 'done']);
  t.equal(lines[0].response, '');
  t.same(Object.keys(lines[THOUGHTS]), ['model', 'created_at', 'response', 'done'], 'answer chunks have no thinking');
  const whole = await postJson(url, '/api/generate', { model: 'thinker', prompt: 'Why?', options: OPTIONS, stream: false });
  t.equal(words(whole.body.thinking).length, THOUGHTS);
  t.equal(words(whole.body.response).length, 3);
  const off = await postJson(url, '/api/generate', { model: 'thinker', prompt: 'Why?', options: OPTIONS, stream: false, think: false });
  t.notOk('thinking' in off.body);
});

t.test("bad think values and thinking asked of a model that cannot are 400s with Ollama's texts", async (t) => {
  const { url } = await thinkingNode(t);
  const levels = '("high", "medium", "low", "max", true, or false)';
  const cases: [string, Record<string, unknown>, string][] = [
    ['/api/chat', { model: 'thinker', messages: MESSAGES, think: 'extreme' }, `invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)`],
    ['/api/chat', { model: 'thinker', messages: MESSAGES, think: 1 }, `think must be a boolean or string ${levels}`],
    ['/api/generate', { model: 'thinker', prompt: 'x', think: { level: 'high' } }, `think must be a boolean or string ${levels}`],
    ['/api/chat', { model: 'plain', messages: MESSAGES, think: true }, '"plain" does not support thinking'],
    ['/api/generate', { model: 'plain', prompt: 'x', think: 'low' }, '"plain" does not support thinking'],
    ['/api/chat', { model: 'plain', messages: [], think: 'max' }, '"plain" does not support thinking'],
  ];
  for (const [path, body, error] of cases) {
    const answer = await postJson(url, path, body);
    t.equal(answer.status, 400, `${path} ${JSON.stringify(body.think)}`);
    t.same(answer.body, { error });
  }
});

t.test('/v1 chat: reasoning_effort and reasoning.effort set think; the thinking comes back as reasoning', async (t) => {
  const { url } = await thinkingNode(t);
  const base = { model: 'thinker', messages: MESSAGES, max_tokens: OPTIONS.num_predict };
  const whole = await postJson(url, '/v1/chat/completions', base);
  t.same(Object.keys(whole.body.choices[0].message), ['role', 'content', 'reasoning']);
  t.equal(words(whole.body.choices[0].message.reasoning).length, THOUGHTS);
  t.equal(words(whole.body.choices[0].message.content).length, 3);
  const none = await postJson(url, '/v1/chat/completions', { ...base, reasoning_effort: 'none' });
  t.same(Object.keys(none.body.choices[0].message), ['role', 'content'], 'effort none turns thinking off');
  const object = await postJson(url, '/v1/chat/completions', { ...base, reasoning: { effort: 'none' }, reasoning_effort: 'high' });
  t.same(Object.keys(object.body.choices[0].message), ['role', 'content'], 'reasoning.effort wins over reasoning_effort');

  const sse = await (await post(url, '/v1/chat/completions', { ...base, stream: true, reasoning_effort: 'xhigh' })).text();
  const deltas = sse.split('\n\n').filter((event) => event.startsWith('data: {')).map((event) => JSON.parse(event.slice(6)).choices[0].delta);
  const reasoning = deltas.filter((delta) => 'reasoning' in delta);
  t.equal(reasoning.length, THOUGHTS, 'reasoning streams in deltas of its own');
  t.ok(reasoning.every((delta) => delta.content === ''), 'with empty content');
  t.equal(deltas.filter((delta) => delta.content !== '' && delta.content !== undefined).length, 3);

  const bad = await postJson(url, '/v1/chat/completions', { ...base, reasoning_effort: 'extreme' });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.message, 'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")');
  const plain = await postJson(url, '/v1/chat/completions', { ...base, model: 'plain', reasoning_effort: 'low' });
  t.equal(plain.status, 400);
  t.equal(plain.body.error.message, '"plain" does not support thinking');
});
