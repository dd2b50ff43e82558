// Request and response mapping on its own: what the engine receives for OpenAI bodies (messages,
// tools, options, formats) and how tool calls, finish reasons and base64 embeddings come back.

import t from 'tap';
import { ProductError } from '../../errors.js';
import {
  chatMessages,
  chatOptions,
  chatThink,
  chatTools,
  completionOptions,
  embeddingInput,
  encodingFormat,
  requestBody,
  responseFormat,
} from './request.js';
import { base64Floats, chatChunk, envelope, finishReason, openaiToolCalls } from './response.js';
import { identify } from '../tool-call-ids.js';

t.test('reasoning efforts map to think values as Ollama clamps them; reasoning.effort wins', async (t) => {
  const cases: [Record<string, unknown>, unknown][] = [
    [{}, undefined],
    [{ reasoning_effort: '' }, undefined],
    [{ reasoning_effort: 'none' }, false],
    [{ reasoning_effort: 'minimal' }, 'low'],
    [{ reasoning_effort: 'low' }, 'low'],
    [{ reasoning_effort: 'medium' }, 'medium'],
    [{ reasoning_effort: 'high' }, 'high'],
    [{ reasoning_effort: 'max' }, 'max'],
    [{ reasoning_effort: 'xhigh' }, 'max'],
    [{ reasoning_effort: 'ultra' }, 'max'],
    [{ reasoning: { effort: 'high' }, reasoning_effort: 'none' }, 'high'],
    [{ reasoning: {}, reasoning_effort: 'high' }, undefined],
    [{ reasoning: null, reasoning_effort: 'low' }, 'low'],
  ];
  for (const [body, think] of cases) t.equal(chatThink(body), think, JSON.stringify(body));
  t.throws(
    () => chatThink({ reasoning_effort: 'extreme' }),
    new ProductError('OD_ERR_BAD_REQUEST', 'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")'),
  );
  t.throws(() => chatThink({ reasoning: { effort: 'lots' } }), { message: /^invalid reasoning value: "lots"/ });
});

t.test("a message's reasoning is its thinking", async (t) => {
  t.same(chatMessages({ messages: [{ role: 'assistant', content: 'hi', reasoning: 'greet' }] }), [{ role: 'assistant', content: 'hi', thinking: 'greet' }]);
});

const PNG = 'iVBORw0KGgo=';

t.test('messages: roles, content parts and images', async (t) => {
  t.same(
    chatMessages({
      messages: [
        { role: 'developer', content: 'rules' },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }, { type: 'text', text: 'here' }] },
        { role: 'user', content: [{ type: 'image_url', image_url: `data:;base64,${PNG}` }] },
      ],
    }),
    [
      { role: 'system', content: 'rules' },
      // One message per part, as Ollama's FromChatRequest splits them.
      { role: 'user', content: 'look' },
      { role: 'user', content: '', images: [PNG] },
      { role: 'user', content: 'here' },
      { role: 'user', content: '', images: [PNG] },
    ],
  );
});

t.test('messages: roles are case-insensitive and unknown ones pass through, lowercased', async (t) => {
  t.same(
    chatMessages({ messages: [{ role: 'SYSTEM', content: 's' }, { role: 'User', content: 'u' }, { role: 'Robot', content: 'r' }] }),
    [
      { role: 'system', content: 's' },
      { role: 'user', content: 'u' },
      { role: 'robot', content: 'r' },
    ],
  );
});

t.test('messages: tool calls go on the last part; a tool result names its call on every part', async (t) => {
  const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } };
  t.same(
    chatMessages({
      messages: [
        { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], tool_calls: [call] },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '18' }, { type: 'text', text: 'C' }] },
      ],
    }),
    [
      { role: 'assistant', content: 'a' },
      { role: 'assistant', content: 'b', tool_calls: [{ function: { name: 'get_weather', arguments: {} } }] },
      { role: 'tool', content: '18', tool_name: 'get_weather' },
      { role: 'tool', content: 'C', tool_name: 'get_weather' },
    ],
  );
});

t.test('messages: assistant tool calls and tool results named by call id', async (t) => {
  t.same(
    chatMessages({
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '18C' },
        { role: 'tool', name: 'explicit', content: 'x' },
      ],
    }),
    [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '18C', tool_name: 'get_weather' },
      { role: 'tool', content: 'x', tool_name: 'explicit' },
    ],
  );
  t.throws(
    () => chatMessages({ messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: '{oops' } }] }] }),
    new ProductError('OD_ERR_BAD_REQUEST', 'invalid tool call arguments'),
  );
});

t.test('options: OpenAI defaults, limits and penalties', async (t) => {
  t.same(chatOptions({}), { temperature: 1, top_p: 1 });
  t.same(chatOptions({ temperature: 0, top_p: 0.5, max_tokens: 10, seed: 7, stop: 'END', frequency_penalty: 0.5, presence_penalty: -0.5 }), {
    temperature: 0,
    top_p: 0.5,
    num_predict: 10,
    seed: 7,
    stop: ['END'],
    frequency_penalty: 0.5,
    presence_penalty: -0.5,
  });
  t.equal(chatOptions({ max_tokens: 10, max_completion_tokens: 20 }).num_predict, 20, 'max_completion_tokens wins');
  t.same(chatOptions({ stop: ['a', 1, 'b'] }).stop, ['a', 'b'], 'chat skips non-string stops');
  t.throws(() => completionOptions({ stop: ['a', 1] }), new ProductError('OD_ERR_BAD_REQUEST', "invalid type for 'stop' field: number"));
  t.throws(() => chatOptions({ max_tokens: 1.5 }), new ProductError('OD_ERR_BAD_REQUEST', "invalid type for 'max_tokens': expected an integer"));
});

t.test('response_format and tools', async (t) => {
  t.equal(responseFormat({}), undefined);
  t.equal(responseFormat({ response_format: { type: 'text' } }), undefined);
  t.equal(responseFormat({ response_format: { type: 'json_object' } }), 'json');
  const schema = { type: 'object', properties: { a: { type: 'string' } } };
  t.same(responseFormat({ response_format: { type: 'json_schema', json_schema: { name: 's', schema } } }), schema);
  const tool = { type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object' } } };
  t.same(chatTools({ tools: [tool] }), [tool]);
  t.equal(chatTools({}), undefined);
  t.throws(() => chatTools({ tools: [{ type: 'code_interpreter' }] }));
});

t.test('bodies and embedding inputs', async (t) => {
  t.throws(() => requestBody(undefined), new ProductError('OD_ERR_BAD_REQUEST', 'missing request body'));
  t.throws(() => requestBody([1]), new ProductError('OD_ERR_BAD_REQUEST', 'request body must be a JSON object'));
  t.same(embeddingInput({ input: '' }), ['']);
  t.same(embeddingInput({ input: ['a', 'b'] }), ['a', 'b']);
  t.throws(() => embeddingInput({ input: [[1, 2]] }));
  t.throws(() => embeddingInput({}), new ProductError('OD_ERR_BAD_REQUEST', 'invalid input'));
  t.equal(encodingFormat({}), 'float');
  t.equal(encodingFormat({ encoding_format: 'BASE64' }), 'base64');
});

t.test('tool calls keep counting across chunks and set the finish reason', async (t) => {
  const calls = openaiToolCalls(identify([{ function: { name: 'f', arguments: { x: 1 } } }, { function: { name: 'g', arguments: {} } }], 1));
  t.match(calls, [
    { id: /^call_[a-z0-9]{8}$/, index: 1, type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
    { id: /^call_[a-z0-9]{8}$/, index: 2, type: 'function', function: { name: 'g', arguments: '{}' } },
  ]);
  t.not(calls[0]!.id, calls[1]!.id, 'each call gets its own id');
  const upstream = openaiToolCalls(identify([{ id: 'call_upstream', function: { index: 7, name: 'f', arguments: {} } }], 0));
  t.match(upstream, [{ id: 'call_upstream', index: 7 }], "an engine's own id and index pass through");
  t.equal(finishReason('stop', true), 'tool_calls');
  t.equal(finishReason('length', false), 'length');
  t.equal(finishReason('unload', false), 'stop');
  const chunk = chatChunk(envelope('chatcmpl', 'tiny'), { content: '', tool_calls: calls }, null);
  t.same(chunk.choices[0]!.delta, { role: 'assistant', content: '', tool_calls: calls });
});

t.test('base64 embeddings are little-endian float32', async (t) => {
  const bytes = Buffer.from(base64Floats([1, -2.5]), 'base64');
  t.equal(bytes.length, 8);
  t.equal(bytes.readFloatLE(0), 1);
  t.equal(bytes.readFloatLE(4), -2.5);
});
