// /v1/responses: the request mapping and event stream on their own (cases from Ollama's
// openai/responses_test.go), then the route on a sim node, raw and through the official client.

import t from 'tap';
import OpenAI from 'openai';
import type { RunEvent } from '../../contracts/engine.js';
import { ProductError } from '../../errors.js';
import { createTiny, nodeFor } from '../ollama/test-support.js';
import { responsesRequest } from './responses-request.js';
import { ResponsesStream, wholeResponse } from './responses-output.js';

const PNG = 'iVBORw0KGgo=';
const DONE: RunEvent = { type: 'done', doneReason: 'stop', loadDuration: 0, promptEvalCount: 5, promptEvalDuration: 1, evalCount: 3, evalDuration: 1 };

/** The fields of Ollama's ResponsesResponse, in its order. */
const RESPONSE_FIELDS = [
  'id', 'object', 'created_at', 'completed_at', 'status', 'incomplete_details', 'model', 'previous_response_id', 'instructions',
  'output', 'error', 'tools', 'tool_choice', 'truncation', 'parallel_tool_calls', 'text', 'top_p', 'presence_penalty',
  'frequency_penalty', 'top_logprobs', 'temperature', 'reasoning', 'usage', 'max_output_tokens', 'max_tool_calls', 'store',
  'background', 'service_tier', 'metadata', 'safety_identifier', 'prompt_cache_key',
];

t.test('input: a string is one user message after the instructions; sampling as Ollama defaults it', async (t) => {
  const run = responsesRequest({ model: 'm', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 7 });
  t.same(run.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
  ]);
  t.same(run.options, { temperature: 1, num_predict: 7 }, 'temperature defaults to 1, top_p is left to the model');
  t.equal(run.stream, false);
  t.same(responsesRequest({ input: '' }).messages, [], 'an empty string is no message');
});

t.test('input items: messages, parts, roles, function calls and their outputs', async (t) => {
  const run = responsesRequest({
    input: [
      { role: 'developer', content: 'rules' },
      { type: 'message', role: 'USER', content: [{ type: 'input_text', text: 'look ' }, { type: 'input_image', detail: 'auto', image_url: `data:image/png;base64,${PNG}` }, { type: 'input_text', text: 'here' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'calling' }] },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'message', role: 'assistant', content: 'replayed' },
      { type: 'function_call_output', call_id: 'call_1', output: '18C' },
      { type: 'function_call', call_id: 'call_2', name: 'get_time', arguments: '' },
      { type: 'function_call_output', call_id: 'call_2', output: [{ type: 'input_text', text: 'noon' }] },
      { type: 'reasoning', id: 'rs_1', summary: [] },
    ],
  });
  t.same(run.messages, [
    { role: 'system', content: 'rules' },
    { role: 'user', content: 'look here', images: [PNG] },
    { role: 'assistant', content: 'calling\nreplayed', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: '18C', tool_name: 'get_weather' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_time', arguments: {} } }] },
    { role: 'tool', content: 'noon', tool_name: 'get_time' },
  ]);
});

t.test('tools: functions, namespaces expanded with qualified names, the echo keeps nullable fields', async (t) => {
  const run = responsesRequest({
    input: 'x',
    tools: [
      { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object' } },
      { type: 'namespace', name: 'files', tools: [{ type: 'function', name: 'read' }, { type: 'function', name: 'files.write' }] },
    ],
  });
  t.same(run.tools, [
    { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } },
    { type: 'function', function: { name: 'files.read' } },
    { type: 'function', function: { name: 'files.write' } },
  ]);
  t.same(run.echo.tools[0], { type: 'function', name: 'get_weather', description: 'Weather', strict: null, parameters: { type: 'object' } });
  t.throws(() => responsesRequest({ input: 'x', tools: [{ type: 'web_search' }] }), new ProductError('OD_ERR_FORBIDDEN', 'ollama cloud is disabled: web search is unavailable'));
});

t.test('reasoning effort, text format and the echo', async (t) => {
  const levels: [string, string][] = [['minimal', 'low'], ['low', 'low'], ['medium', 'medium'], ['high', 'high'], ['max', 'max'], ['xhigh', 'max'], ['ultra', 'max']];
  for (const [effort, level] of levels) t.equal(responsesRequest({ reasoning: { effort } }).think, level, `${effort} thinks at ${level}`);
  t.equal(responsesRequest({ reasoning: { effort: 'none' } }).think, false);
  t.equal(responsesRequest({}).think, undefined, 'no effort leaves thinking to the model');
  t.throws(
    () => responsesRequest({ reasoning: { effort: 'extreme' } }),
    new ProductError('OD_ERR_BAD_REQUEST', 'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")'),
  );
  const schema = { type: 'object', properties: { a: { type: 'string' } } };
  const run = responsesRequest({ text: { format: { type: 'json_schema', name: 's', schema } }, top_p: 0.5, reasoning: { summary: 'auto' } });
  t.same(run.format, schema);
  t.same(run.echo.text, { format: { type: 'json_schema', name: 's', schema } });
  t.equal(run.echo.top_p, 0.5);
  t.same(run.echo.reasoning, { summary: 'auto' });
  t.equal(responsesRequest({ text: { format: { type: 'json_object' } } }).format, undefined, 'only json_schema constrains the output');
});

t.test('malformed input items are refused with the path Ollama names', async (t) => {
  const cases: [unknown, string][] = [
    [[{ content: 'x' }], "input[0]: input item missing required 'type' field"],
    [['x', { type: 'bogus' }], 'input[0]: json: cannot unmarshal string into an input item'],
    [[{ type: 'bogus' }], 'input[0]: unknown input item type: "bogus"'],
    [[{ role: 'user', content: 'a' }, { role: 'user', content: [{ type: 'audio' }] }], 'input[1]: content[0]: unknown content type: audio'],
    [[{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }], 'file inputs are not currently supported'],
    [[{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }], 'image URLs are not currently supported, please use base64 encoded data instead'],
    [3, 'input must be a string or array: json: cannot unmarshal number into Go value of type []json.RawMessage'],
  ];
  for (const [input, message] of cases) t.throws(() => responsesRequest({ input }), new ProductError('OD_ERR_BAD_REQUEST', message), JSON.stringify(input));
  t.throws(() => responsesRequest({ input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{oops' }] }), { message: /^failed to parse function call arguments: / });
});

t.test('the stream: created and in_progress, a message item, function calls, completed, numbered in sequence', async (t) => {
  const echo = responsesRequest({ input: 'x' }).echo;
  const stream = new ResponsesStream({ response: 'resp_7', message: 'msg_8' }, 'tiny', echo);
  const events = [
    ...stream.frames({ type: 'token', text: 'Hel' }),
    ...stream.frames({ type: 'token', text: 'lo' }),
    ...stream.frames({ type: 'tool_calls', calls: [{ function: { name: 'f', arguments: { a: 1 } } }] }),
    ...stream.frames({ type: 'token', text: 'after' }),
    ...stream.frames(DONE),
  ] as any[];
  t.same(
    events.map((e) => e.type),
    [
      'response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      'response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done',
      'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
      'response.completed',
    ],
  );
  t.same(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence numbers count from 0');
  t.same(events[0].response.output, []);
  t.equal(events[0].response.status, 'in_progress');
  t.equal(events[0].response.usage, null);
  t.same(events[2].item, { id: 'msg_8', type: 'message', status: 'in_progress', role: 'assistant', content: [] });
  t.same(events[6], { type: 'response.output_text.done', sequence_number: 6, item_id: 'msg_8', output_index: 0, content_index: 0, text: 'Hello', logprobs: [] });
  t.match(events[9].item, { id: /^fc_\d+_0$/, type: 'function_call', status: 'in_progress', call_id: /^call_[a-z0-9]{8}$/, name: 'f', arguments: '' });
  t.same(events[10].delta, '{"a":1}');
  t.equal(events[10].output_index, 1);
  t.equal(events[13].item.id, 'msg_7_2', 'text after the calls opens a new message item');
  const completed = events.at(-1).response;
  t.equal(completed.status, 'completed');
  t.type(completed.completed_at, 'number');
  t.same(completed.output.map((item: any) => [item.type, item.id]), [['message', 'msg_8'], ['function_call', events[9].item.id], ['message', 'msg_7_2']]);
  t.same(completed.usage, { input_tokens: 5, output_tokens: 3, total_tokens: 8, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });
});

t.test('a run with no text streams no message item; the whole answer still has an empty one', async (t) => {
  const echo = responsesRequest({ input: 'x' }).echo;
  const stream = new ResponsesStream({ response: 'resp_1', message: 'msg_1' }, 'tiny', echo);
  t.same(
    stream.frames(DONE).map((e) => e.type),
    ['response.created', 'response.in_progress', 'response.completed'],
  );
  const whole = wholeResponse({ response: 'resp_1', message: 'msg_1' }, 'tiny', echo, { text: '', thinking: '', calls: [] }, DONE as any, 0) as any;
  t.same(whole.output, [{ id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: '', annotations: [], logprobs: [] }] }]);
  const calls = wholeResponse({ response: 'resp_1', message: 'msg_1' }, 'tiny', echo, { text: '', thinking: '', calls: [{ function: { name: 'f', arguments: {} } }] }, DONE as any, 0) as any;
  t.match(calls.output, [{ id: 'fc_resp_1_0', type: 'function_call', status: 'completed', call_id: /^call_/, name: 'f', arguments: '{}' }]);
  t.equal(calls.output.length, 1, 'function calls without text carry no message item');
});

t.test('over HTTP on the sim engine', async (t) => {
  const { url } = await nodeFor(t, { OLLAMA_ENGINE: 'sim' });
  await createTiny(url, 'tiny');
  const post = (body: unknown) => fetch(`${url}/v1/responses`, { method: 'POST', body: JSON.stringify(body) });

  t.test('a whole response has every field of Ollama\'s, in its order', async (t) => {
    const response = await post({ model: 'tiny', input: 'Hello', instructions: 'Be brief.', max_output_tokens: 3, temperature: 0.5 });
    t.equal(response.status, 200);
    t.match(response.headers.get('content-type'), /^application\/json/);
    const body = (await response.json()) as any;
    t.same(Object.keys(body), RESPONSE_FIELDS);
    t.match(body, {
      id: /^resp_\d+$/,
      object: 'response',
      status: 'completed',
      model: 'tiny',
      instructions: 'Be brief.',
      tools: [],
      tool_choice: 'auto',
      truncation: 'disabled',
      text: { format: { type: 'text' } },
      temperature: 0.5,
      top_p: 1,
      max_output_tokens: 3,
      store: false,
      service_tier: 'default',
      metadata: {},
      usage: { output_tokens: 3, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    });
    t.ok(body.completed_at >= body.created_at);
    t.equal(body.usage.total_tokens, body.usage.input_tokens + body.usage.output_tokens);
    t.match(body.output, [{ id: /^msg_\d+$/, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: /\S/, annotations: [], logprobs: [] }] }]);
  });

  t.test('a stream is named SSE events, each event named by its type, with no [DONE]', async (t) => {
    const response = await post({ model: 'tiny', input: 'Hello', max_output_tokens: 2, stream: true });
    t.equal(response.status, 200);
    t.equal(response.headers.get('content-type'), 'text/event-stream');
    const text = await response.text();
    t.notMatch(text, /\[DONE\]/);
    const events = text.trimEnd().split('\n\n').map((frame) => {
      const [event, data, ...rest] = frame.split('\n');
      t.same(rest, [], 'two lines a frame');
      const parsed = JSON.parse(data!.replace(/^data: /, ''));
      t.equal(event, `event: ${parsed.type}`);
      return parsed;
    });
    t.same(
      events.map((e) => e.type),
      ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'],
    );
    const completed = events.at(-1).response;
    t.same(Object.keys(completed), RESPONSE_FIELDS);
    t.equal(completed.id, events[0].response.id, 'one response id throughout');
    t.equal(completed.output[0].content[0].text, events[4].delta + events[5].delta);
  });

  t.test('the official openai client: responses.create, whole and streamed', async (t) => {
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const whole = await openai.responses.create({ model: 'tiny', input: 'Write a poem', max_output_tokens: 3 });
    t.equal(whole.status, 'completed');
    t.ok(whole.output_text.length > 0, 'output_text joins the message text');
    t.equal(whole.usage?.output_tokens, 3);
    const stream = await openai.responses.create({ model: 'tiny', input: [{ role: 'user', content: 'Write a poem' }], max_output_tokens: 3, stream: true });
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    t.equal(completed?.output_text ?? (completed?.output[0] as any)?.content[0].text, text);
    const missing = await openai.responses.create({ model: 'nope', input: 'x' }).catch((e: unknown) => e);
    t.match(missing, { constructor: OpenAI.NotFoundError, status: 404, message: "404 model 'nope' not found" });
  });

  t.test('errors take OpenAI\'s shape with Ollama\'s words', async (t) => {
    const cases: [unknown, number, string, string][] = [
      [{ input: 'x' }, 400, 'invalid_request_error', 'model is required'],
      [{ model: 'nope', input: 'x' }, 404, 'not_found_error', "model 'nope' not found"],
      [{ model: 'tiny', input: 'x', reasoning: { effort: 'high' } }, 400, 'invalid_request_error', '"tiny" does not support thinking'],
      [{ model: 'tiny', input: [{ type: 'bogus' }] }, 400, 'invalid_request_error', 'input[0]: unknown input item type: "bogus"'],
      [{ model: 'tiny', input: 'x', tools: [{ type: 'web_search' }] }, 403, 'api_error', 'ollama cloud is disabled: web search is unavailable'],
    ];
    for (const [body, status, type, message] of cases) {
      const response = await post(body);
      t.equal(response.status, status, JSON.stringify(body));
      t.same(await response.json(), { error: { message, type, param: null, code: null } });
    }
  });

  t.test('no input at all only loads the model and answers an empty message', async (t) => {
    const body = (await (await post({ model: 'tiny', input: [] })).json()) as any;
    t.equal(body.status, 'completed');
    t.same(body.output[0].content[0].text, '');
    t.same(body.usage, { input_tokens: 0, output_tokens: 0, total_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });
  });
});

t.test('thinking: a reasoning item before the message, whole and streamed, as Ollama writes them', async (t) => {
  const echo = responsesRequest({ input: 'x' }).echo;
  const whole = wholeResponse({ response: 'resp_1', message: 'msg_1' }, 'tiny', echo, { text: 'Hi', thinking: 'hmm', calls: [] }, DONE as any, 0) as any;
  t.same(whole.output[0], { id: 'rs_resp_1', type: 'reasoning', summary: [{ type: 'summary_text', text: 'hmm' }], encrypted_content: 'hmm' });
  t.equal(whole.output[1].id, 'msg_1');
  const stream = new ResponsesStream({ response: 'resp_7', message: 'msg_8' }, 'tiny', echo);
  const events = [...stream.frames({ type: 'thinking', text: 'hm' }), ...stream.frames({ type: 'thinking', text: 'm' }), ...stream.frames({ type: 'token', text: 'Hi' }), ...stream.frames(DONE)] as any[];
  t.same(events.map((e) => e.type).slice(2, 7), [
    'response.output_item.added',
    'response.reasoning_summary_text.delta',
    'response.reasoning_summary_text.delta',
    'response.reasoning_summary_text.done',
    'response.output_item.done',
  ]);
  const id = events[2].item.id;
  t.match(id, /^rs_\d+$/);
  t.same(events[2].item, { id, type: 'reasoning', summary: [] });
  t.same(events[3], { type: 'response.reasoning_summary_text.delta', sequence_number: 3, item_id: id, output_index: 0, summary_index: 0, delta: 'hm' });
  t.same(events[5], { type: 'response.reasoning_summary_text.done', sequence_number: 5, item_id: id, output_index: 0, summary_index: 0, text: 'hmm' });
  t.same(events[7].item, { id: 'msg_8', type: 'message', status: 'in_progress', role: 'assistant', content: [] }, 'the message after reasoning keeps its id, at output 1');
  t.equal(events[7].output_index, 1);
  t.same(events.at(-1).response.output.map((item: any) => [item.type, item.id]), [['reasoning', id], ['message', 'msg_8']]);
});
