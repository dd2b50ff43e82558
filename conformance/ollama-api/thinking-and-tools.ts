// Exact-behaviour checks of the Ollama API suite on thinking and tool calls, from Ollama's chat and
// generate handlers (server/routes.go), api/types.go (ThinkValue, ToolCall) and openai/openai.go.
// The models are the tiny one under the fixture templates, so they work on any server.

import type { Test } from 'tap';
import { THINKING_TEMPLATE, TOOL_CALL_FORMAT, TOOL_CALL_PREAMBLE, TOOL_TEMPLATE, WEATHER_TOOLS } from '../fixtures/templates.js';
import { call, checkOpenAiError, MESSAGES, OPTIONS, send, type Endpoint, type Json } from './index.js';

/** Ollama's toolCallId. */
const CALL_ID = /^call_[a-z0-9]{8}$/;
const THINK_LEVELS = '("high", "medium", "low", "max", true, or false)';
/** Enough tokens for the reply TOOL_CALL_FORMAT shapes, whitespace and all. */
const TOOL_OPTIONS = { num_predict: 300, temperature: 0, seed: 42 };

async function lines(url: string, path: string, body: unknown): Promise<Json[]> {
  const text = await (await send(url, path, body)).text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Json);
}

async function deltas(url: string, body: unknown): Promise<Json[]> {
  const text = await (await send(url, '/v1/chat/completions', body)).text();
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: {'))
    .map((event) => JSON.parse(event.slice('data: '.length)) as Json)
    .filter((chunk) => chunk.choices?.length > 0)
    .map((chunk) => chunk.choices[0].delta);
}

/** Makes `name` the target's tiny model under `template`, the way Ollama's create takes one. */
async function withTemplate(t: Test, url: string, from: string, name: string, template: string): Promise<void> {
  const created = await call(url, '/api/create', { model: name, from, template, stream: false });
  t.equal(created.status, 200, `created ${name}`);
}

export function thinkingAndTools(endpoint: Endpoint, scratch: string): void {
  const thinker = `${scratch}-thinker`;
  const tooler = `${scratch}-tooler`;

  endpoint('thinking', (check) => {
    check('/api/show lists thinking for a template that renders .Thinking, not for the plain model', async (t, { url, model }) => {
      await withTemplate(t, url, model, thinker, THINKING_TEMPLATE);
      t.ok((await call(url, '/api/show', { model: thinker })).body.capabilities.includes('thinking'), thinker);
      t.notOk((await call(url, '/api/show', { model })).body.capabilities.includes('thinking'), model);
    }, [thinker]);

    check('/api/chat streams thinking in chunks of its own, the final chunk without it, whole the same text; think false answers', async (t, { url, model }) => {
      await withTemplate(t, url, model, thinker, THINKING_TEMPLATE);
      const body = { model: thinker, messages: MESSAGES, options: OPTIONS };
      // The template leaves the prompt inside <think>, and a model that thinks does so by default.
      const streamed = await lines(url, '/api/chat', body);
      const parts = streamed.slice(0, -1).map((line) => line.message);
      t.ok(parts.length > 0, 'chunks before the last');
      for (const message of parts) t.same(Object.keys(message), ['role', 'content', 'thinking'], 'role, content, thinking');
      t.ok(parts.every((message) => message.content === '' && typeof message.thinking === 'string' && message.thinking !== ''), 'thinking, no content');
      t.same(streamed.at(-1)!.message, { role: 'assistant', content: '' }, 'the final chunk: no thinking field');
      const whole = await call(url, '/api/chat', { ...body, stream: false });
      t.same(whole.body.message, { role: 'assistant', content: '', thinking: parts.map((message) => message.thinking).join('') });
      const on = await call(url, '/api/chat', { ...body, stream: false, think: 'high' });
      t.equal(on.body.message.thinking, whole.body.message.thinking, 'think "high" thinks the same');
      // With think false the template closes the block: the answer is content, and no line has a thinking field.
      const off = await lines(url, '/api/chat', { ...body, think: false });
      t.ok(off.every((line) => !('thinking' in line.message)), 'think false: no thinking field');
      t.ok(off.slice(0, -1).some((line) => line.message.content !== ''), 'think false: the answer is content');
      const generated = await call(url, '/api/generate', { model: thinker, prompt: 'Hello', options: OPTIONS, think: false, stream: false });
      t.notOk('thinking' in generated.body, 'generate, think false: no thinking field');
      t.not(generated.body.response, '');
    }, [thinker]);

    check('/api/generate puts thinking in `thinking`, right after an empty `response`', async (t, { url, model }) => {
      await withTemplate(t, url, model, thinker, THINKING_TEMPLATE);
      const streamed = await lines(url, '/api/generate', { model: thinker, prompt: 'Hello', options: OPTIONS });
      t.same(Object.keys(streamed[0]!), ['model', 'created_at', 'response', 'thinking', 'done']);
      t.equal(streamed[0]!.response, '');
      t.notOk('thinking' in streamed.at(-1)!, 'the final line: no thinking field');
      const whole = await call(url, '/api/generate', { model: thinker, prompt: 'Hello', options: OPTIONS, stream: false });
      t.equal(whole.body.thinking, streamed.slice(0, -1).map((line) => line.thinking).join(''));
      t.equal(whole.body.response, '');
    }, [thinker]);

    check("a bad think value is a 400 with ThinkValue's text", async (t, { url, model }) => {
      const cases: [string, Json, string][] = [
        ['/api/chat', { model, messages: MESSAGES, think: 'extreme' }, `invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false)`],
        ['/api/generate', { model, prompt: 'x', think: 'HIGH' }, `invalid think value: "HIGH" (must be "high", "medium", "low", "max", true, or false)`],
        ['/api/chat', { model, messages: MESSAGES, think: 1 }, `think must be a boolean or string ${THINK_LEVELS}`],
        ['/api/generate', { model, prompt: 'x', think: ['high'] }, `think must be a boolean or string ${THINK_LEVELS}`],
      ];
      for (const [path, body, error] of cases) {
        const got = await call(url, path, body);
        t.equal(got.status, 400, `${path} think ${JSON.stringify(body.think)}`);
        t.same(got.body, { error });
      }
    });

    check('thinking asked of a model that does not think is a 400 naming it as asked; think false is fine', async (t, { url, model }) => {
      for (const [path, body] of [
        ['/api/chat', { model, messages: MESSAGES, think: true }],
        ['/api/generate', { model, prompt: 'x', think: 'low' }],
        ['/api/chat', { model, messages: [], think: 'max' }],
      ] as [string, Json][]) {
        const got = await call(url, path, body);
        t.equal(got.status, 400, `${path} think ${JSON.stringify(body.think)}`);
        t.same(got.body, { error: `${JSON.stringify(model)} does not support thinking` });
      }
      const off = await call(url, '/api/chat', { model, messages: MESSAGES, think: false, stream: false, options: OPTIONS });
      t.equal(off.status, 200);
      t.notOk('thinking' in off.body.message);
    });

    check('/v1 chat: thinking is `reasoning` in the message and in deltas of its own; effort "none" turns it off', async (t, { url, model }) => {
      await withTemplate(t, url, model, thinker, THINKING_TEMPLATE);
      const body = { model: thinker, messages: MESSAGES, max_tokens: OPTIONS.num_predict, temperature: 0, seed: OPTIONS.seed };
      const whole = await call(url, '/v1/chat/completions', body);
      const message = whole.body.choices[0].message;
      t.same(Object.keys(message), ['role', 'content', 'reasoning']);
      t.equal(message.content, '');
      t.ok(typeof message.reasoning === 'string' && message.reasoning !== '');
      const streamed = (await deltas(url, { ...body, stream: true })).filter((delta) => 'reasoning' in delta);
      t.ok(streamed.length > 0 && streamed.every((delta) => delta.content === ''), 'reasoning deltas, content empty');
      t.equal(streamed.map((delta) => delta.reasoning).join(''), message.reasoning);
      const none = await call(url, '/v1/chat/completions', { ...body, reasoning_effort: 'none' });
      t.same(Object.keys(none.body.choices[0].message), ['role', 'content'], 'reasoning_effort none');
      const nested = await call(url, '/v1/chat/completions', { ...body, reasoning: { effort: 'none' }, reasoning_effort: 'high' });
      t.same(Object.keys(nested.body.choices[0].message), ['role', 'content'], 'reasoning.effort wins');
    }, [thinker]);

    check("/v1 chat: a bad effort, and an effort for a model that does not think, are 400s with Ollama's texts", async (t, { url, model }) => {
      const bad = await call(url, '/v1/chat/completions', { model, messages: MESSAGES, reasoning_effort: 'extreme' });
      checkOpenAiError(t, bad, 400, 'invalid_request_error', 'a bad effort');
      t.equal(bad.body.error.message, 'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")');
      const plain = await call(url, '/v1/chat/completions', { model, messages: MESSAGES, reasoning: { effort: 'high' } });
      checkOpenAiError(t, plain, 400, 'invalid_request_error', 'no thinking');
      t.equal(plain.body.error.message, `${JSON.stringify(model)} does not support thinking`);
    });
  });

  endpoint('tool calls', (check) => {
    check('with tools offered, a reply that is no call streams as it is generated', async (t, { url, model }) => {
      await withTemplate(t, url, model, tooler, TOOL_TEMPLATE);
      const streamed = await lines(url, '/api/chat', { model: tooler, messages: MESSAGES, tools: WEATHER_TOOLS, options: { ...OPTIONS, num_predict: 16 } });
      const content = streamed.slice(0, -1).filter((line) => line.message.content !== '');
      t.ok(content.length > 1, `the answer came in ${content.length} chunks`);
      t.ok(streamed.every((line) => !('tool_calls' in line.message)), 'no tool calls');
    }, [tooler]);

    check('/api/chat: text before the calls streams first; each call has a call_ id and its function.index', async (t, { url, model }) => {
      await withTemplate(t, url, model, tooler, TOOL_TEMPLATE);
      const body = { model: tooler, messages: MESSAGES, tools: WEATHER_TOOLS, format: TOOL_CALL_FORMAT, options: TOOL_OPTIONS };
      const streamed = await lines(url, '/api/chat', body);
      const first = streamed.findIndex((line) => 'tool_calls' in line.message);
      t.ok(first > 1, 'calls come after text');
      const before = streamed.slice(0, first).map((line) => line.message.content);
      t.ok(before.filter((content) => content !== '').length > 1, `the text before them streamed in ${before.length} chunks`);
      t.match(before.join(''), TOOL_CALL_PREAMBLE);
      const calls = streamed.flatMap((line) => line.message.tool_calls ?? []);
      t.equal(calls.length, 2);
      for (const c of calls) {
        t.same(Object.keys(c), ['id', 'function'], 'id, then function');
        t.match(c.id, CALL_ID, `id ${c.id}`);
        t.same(Object.keys(c.function), ['index', 'name', 'arguments'], 'index, name, arguments');
      }
      t.not(calls[0].id, calls[1].id, 'ids differ');
      t.same(calls.map((c: Json) => c.function), [
        { index: 0, name: 'get_weather', arguments: { city: 'Paris' } },
        { index: 1, name: 'get_time', arguments: {} },
      ]);
      const whole = await call(url, '/api/chat', { ...body, stream: false });
      t.match(whole.body.message.tool_calls, [{ id: CALL_ID, function: { index: 0, name: 'get_weather' } }, { id: CALL_ID, function: { index: 1, name: 'get_time' } }]);
      t.match(whole.body.message.content, TOOL_CALL_PREAMBLE);
    }, [tooler]);

    check('/v1 chat: the calls keep their ids and indexes; finish_reason tool_calls', async (t, { url, model }) => {
      await withTemplate(t, url, model, tooler, TOOL_TEMPLATE);
      const body = {
        model: tooler,
        messages: MESSAGES,
        tools: WEATHER_TOOLS,
        response_format: { type: 'json_schema', json_schema: { name: 'calls', schema: TOOL_CALL_FORMAT } },
        max_tokens: TOOL_OPTIONS.num_predict,
        temperature: 0,
        seed: TOOL_OPTIONS.seed,
      };
      const whole = await call(url, '/v1/chat/completions', body);
      t.equal(whole.body.choices[0].finish_reason, 'tool_calls');
      t.match(whole.body.choices[0].message.tool_calls, [
        { id: CALL_ID, index: 0, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: CALL_ID, index: 1, type: 'function', function: { name: 'get_time', arguments: '{}' } },
      ]);
      const streamed = (await deltas(url, { ...body, stream: true })).flatMap((delta) => delta.tool_calls ?? []);
      t.match(streamed, [{ id: CALL_ID, index: 0 }, { id: CALL_ID, index: 1 }], 'streamed');
    }, [tooler]);
  });
}
