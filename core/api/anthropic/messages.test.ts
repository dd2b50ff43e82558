// /v1/messages: the Anthropic request mapping and event stream on their own (cases from Ollama's
// anthropic/anthropic_test.go and middleware/anthropic_test.go), then raw HTTP on a sim node.

import t from 'tap';
import type { RunEvent } from '../../contracts/engine.js';
import { ProductError } from '../../errors.js';
import { createTiny, nodeFor } from '../ollama/test-support.js';
import { messagesRequest } from './request.js';
import { MessagesStream, stopReason, wholeMessage } from './response.js';

const PNG = 'iVBORw0KGgo=';
const DONE: Extract<RunEvent, { type: 'done' }> = { type: 'done', doneReason: 'stop', loadDuration: 0, promptEvalCount: 10, promptEvalDuration: 1, evalCount: 5, evalDuration: 1 };
const base = { model: 'test-model', max_tokens: 1024 };

t.test('a basic message, a system prompt (string or blocks) and options', async (t) => {
  t.same(messagesRequest({ ...base, messages: [{ role: 'user', content: 'Hello' }] }), {
    model: 'test-model',
    messages: [{ role: 'user', content: 'Hello' }],
    options: { num_predict: 1024 },
    stream: false,
    estimatedInputTokens: 2,
  });
  t.same(messagesRequest({ ...base, system: 'You are helpful.', messages: [{ role: 'user', content: 'Hello' }] }).messages, [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content: 'Hello' },
  ]);
  t.same(messagesRequest({ ...base, system: [{ type: 'text', text: 'You are ' }, { type: 'text', text: 'helpful.' }], messages: [{ role: 'user', content: 'Hi' }] }).messages[0], {
    role: 'system',
    content: 'You are helpful.',
  });
  const run = messagesRequest({ ...base, max_tokens: 2048, temperature: 0.7, top_p: 0.9, top_k: 40, stop_sequences: ['\n', 'END'], stream: true, messages: [{ role: 'User', content: 'Hello' }] });
  t.same(run.options, { num_predict: 2048, temperature: 0.7, top_p: 0.9, top_k: 40, stop: ['\n', 'END'] });
  t.equal(run.stream, true);
  t.equal(run.messages[0]!.role, 'user', 'roles are lowercased');
});

t.test('content blocks: images, tool_use and tool_result, results before a user\'s text', async (t) => {
  const run = messagesRequest({
    ...base,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'What is ' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }, { type: 'text', text: 'this?' }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm' }, { type: 'tool_use', id: 'call_read', name: 'Read', input: { file_path: '/a.png' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_read', content: [{ type: 'text', text: 'Attached image' }, { type: 'image', source: { type: 'base64', data: PNG } }] },
          { type: 'text', text: 'Please describe it.' },
        ],
      },
    ],
  });
  t.same(run.messages, [
    { role: 'user', content: 'What is this?', images: [PNG] },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'Read', arguments: { file_path: '/a.png' } } }] },
    { role: 'tool', content: 'Attached image', images: [PNG], tool_name: 'Read' },
    { role: 'user', content: 'Please describe it.' },
  ]);
});

t.test('tools become functions with their input schema', async (t) => {
  const schema = { type: 'object', properties: { location: { type: 'string' } } };
  t.same(messagesRequest({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'get_weather', description: 'Weather', input_schema: schema }] }).tools, [
    { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: schema } },
  ]);
  t.throws(
    () => messagesRequest({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
    new ProductError('OD_ERR_FORBIDDEN', 'ollama cloud is disabled: web search is unavailable'),
  );
});

t.test('refusals word for word, checked in the middleware\'s order', async (t) => {
  const cases: [unknown, string][] = [
    [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, 'model is required'],
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens is required and must be positive'],
    [{ model: 'm', max_tokens: -1, messages: [] }, 'max_tokens is required and must be positive'],
    [{ model: 'm', max_tokens: 10, messages: [] }, 'messages is required'],
    [{ model: 'm', max_tokens: '10' }, 'json: cannot unmarshal string into Go struct field MessagesRequest.max_tokens of type int'],
    [{ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', name: 'f' }] }] }, "tool_use block missing required 'id' field"],
    [{ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'c' }] }] }, "tool_use block missing required 'name' field"],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'image' }] }] }, 'invalid image source'],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x' } }] }] }, 'invalid image source type: url. Only base64 images are supported.'],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', data: 'ab!c' } }] }] }, 'invalid base64 image data: illegal base64 data at input byte 2'],
    [[], 'json: cannot unmarshal array into Go value of type anthropic.MessagesRequest'],
  ];
  for (const [body, message] of cases) t.throws(() => messagesRequest(body), new ProductError('OD_ERR_BAD_REQUEST', message), JSON.stringify(body));
});

t.test('input tokens are estimated as Ollama does: bytes over four, at least one', async (t) => {
  const est = (body: object) => messagesRequest({ ...base, ...body }).estimatedInputTokens;
  t.equal(est({ messages: [{ role: 'user', content: 'Hello, world!' }] }), 4, '"user" + "Hello, world!" is 17 bytes');
  t.equal(est({ messages: [{ role: 'user', content: '' }] }), 1);
  t.equal(est({ system: 'You are a helpful assistant.', messages: [{ role: 'user', content: 'Hello' }] }), 9);
});

t.test('stop reasons', async (t) => {
  t.equal(stopReason('stop', false), 'end_turn');
  t.equal(stopReason('length', false), 'max_tokens');
  t.equal(stopReason('stop', true), 'tool_use');
  t.equal(stopReason('load', false), 'stop_sequence');
  t.equal(stopReason('', false), undefined);
});

t.test('the whole message: text, then tool_use blocks with call ids', async (t) => {
  t.same(wholeMessage('msg_1', 'test-model', { text: 'Hello there!', thinking: '', calls: [] }, DONE), {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'test-model',
    content: [{ type: 'text', text: 'Hello there!' }],
    stop_reason: 'end_turn',
    usage: { input_tokens: 10, output_tokens: 5 },
  });
  t.match(wholeMessage('msg_1', 'test-model', { text: '', thinking: '', calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] }, DONE), {
    content: [{ type: 'tool_use', id: /^call_[a-z0-9]{8}$/, name: 'get_weather', input: { city: 'Paris' } }],
    stop_reason: 'tool_use',
  });
});

t.test('the stream: message_start, blocks opened, filled and closed in index order, message_delta, message_stop', async (t) => {
  const stream = new MessagesStream('msg_1', 'test-model', 7);
  const events = [
    ...stream.frames({ type: 'token', text: 'Hello' }),
    ...stream.frames({ type: 'token', text: ' world' }),
    ...stream.frames({ type: 'tool_calls', calls: [{ function: { name: 'f', arguments: { a: 1 } } }] }),
    ...stream.frames({ type: 'token', text: 'after' }),
    ...stream.frames(DONE),
  ] as any[];
  t.same(events[0], { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'test-model', content: [], usage: { input_tokens: 7, output_tokens: 0 } } });
  t.same(events.slice(1, 5), [
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' world' } },
    { type: 'content_block_stop', index: 0 },
  ]);
  t.match(events[5], { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: /^call_/, name: 'f', input: {} } });
  t.same(events.slice(6, 8), [
    { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":1}' } },
    { type: 'content_block_stop', index: 1 },
  ]);
  t.same(events.slice(8), [
    { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'after' } },
    { type: 'content_block_stop', index: 2 },
    { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 10, output_tokens: 5 } },
    { type: 'message_stop' },
  ]);
});

t.test('over raw HTTP on the sim engine, as the documented shapes say', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(url, 'tiny');
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'unused', ...headers }, body: JSON.stringify(body) });

  t.test('a whole message', async (t) => {
    const response = await post({ model: 'tiny', max_tokens: 3, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello' }] });
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^application\/json/);
    const body = (await response.json()) as any;
    t.same(Object.keys(body), ['id', 'type', 'role', 'model', 'content', 'stop_reason', 'usage']);
    t.match(body, { id: /^msg_[0-9a-f]{24}$/, type: 'message', role: 'assistant', model: 'tiny', content: [{ type: 'text', text: /\S/ }], stop_reason: 'max_tokens' });
    t.same(Object.keys(body.usage), ['input_tokens', 'output_tokens']);
    t.equal(body.usage.output_tokens, 3);
    t.ok(body.usage.input_tokens > 0);
  });

  t.test('a stream of named events, each named by its type', async (t) => {
    const response = await post({ model: 'tiny', max_tokens: 2, stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }] });
    t.equal(response.status, 200);
    t.equal(response.headers.get('content-type'), 'text/event-stream');
    const events = (await response.text()).trimEnd().split('\n\n').map((frame) => {
      const [event, data] = frame.split('\n');
      const parsed = JSON.parse(data!.replace(/^data: /, ''));
      t.equal(event, `event: ${parsed.type}`);
      return parsed;
    });
    t.same(
      events.map((e) => e.type),
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    t.match(events[0].message, { id: /^msg_[0-9a-f]{24}$/, type: 'message', role: 'assistant', model: 'tiny', content: [], usage: { output_tokens: 0 } });
    t.ok(events[0].message.usage.input_tokens > 0, 'message_start reports the estimate');
    t.same(events.at(-2).delta, { stop_reason: 'max_tokens' });
    t.equal(events.at(-2).usage.output_tokens, 2);
  });

  t.test('errors take Anthropic\'s shape with a request id', async (t) => {
    const cases: [unknown, number, string, string][] = [
      [{ model: 'tiny', messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'max_tokens is required and must be positive'],
      [{ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 404, 'not_found_error', "model 'nope' not found"],
      [{ model: 'tiny', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 403, 'permission_error', 'ollama cloud is disabled: web search is unavailable'],
    ];
    for (const [body, status, type, message] of cases) {
      const response = await post(body);
      t.equal(response.status, status, JSON.stringify(body));
      const error = (await response.json()) as any;
      t.match(error, { type: 'error', error: { type, message }, request_id: /^req_[0-9a-f]{24}$/ });
      t.same(Object.keys(error), ['type', 'error', 'request_id']);
    }
    const broken = await fetch(`${url}/v1/messages`, { method: 'POST', body: '{"model":' });
    t.equal(broken.status, 400);
    t.match(await broken.json(), { type: 'error', error: { type: 'invalid_request_error', message: /^invalid JSON in request body/ } });
  });
});

t.test('thinking: a thinking block before the text, whole and streamed, as Ollama writes them; thinking is read from the request', async (t) => {
  t.same(wholeMessage('msg_1', 'm', { text: 'Hi', thinking: 'hmm', calls: [] }, DONE).content, [{ type: 'thinking', thinking: 'hmm' }, { type: 'text', text: 'Hi' }]);
  const stream = new MessagesStream('msg_1', 'm', 3);
  const frames = [
    ...stream.frames({ type: 'thinking', text: 'hm' }),
    ...stream.frames({ type: 'thinking', text: 'm' }),
    ...stream.frames({ type: 'token', text: 'Hi' }),
    ...stream.frames({ type: 'thinking', text: 'late' }),
    ...stream.frames(DONE),
  ] as any[];
  t.same(frames.slice(1, 7), [
    { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hm' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'm' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi' } },
  ]);
  t.same(frames.slice(7).map((f) => f.type), ['content_block_stop', 'message_delta', 'message_stop'], 'thinking after its block closed is not sent');
  const base = { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] };
  t.equal(messagesRequest({ ...base, thinking: { type: 'enabled', budget_tokens: 1024 } }).think, true);
  t.equal(messagesRequest({ ...base, thinking: { type: 'disabled' } }).think, false);
  t.equal(messagesRequest({ ...base, output_config: { effort: ' XHigh ' } }).think, 'high');
  t.equal(messagesRequest(base).think, undefined);
});
