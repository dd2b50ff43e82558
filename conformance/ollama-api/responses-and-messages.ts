// Exact-behaviour checks of the Ollama API suite on /v1/responses and /v1/messages, as Ollama's
// openai/responses.go and anthropic/ shape them, through raw HTTP and the official openai client.

import OpenAI from 'openai';
import type { Test } from 'tap';
import { NUM_PREDICT, call, checkOpenAiError, send, type Endpoint, type Json } from './index.js';

/** Ollama's ResponsesResponse fields, in its order. */
const RESPONSE_FIELDS = [
  'id', 'object', 'created_at', 'completed_at', 'status', 'incomplete_details', 'model', 'previous_response_id', 'instructions',
  'output', 'error', 'tools', 'tool_choice', 'truncation', 'parallel_tool_calls', 'text', 'top_p', 'presence_penalty',
  'frequency_penalty', 'top_logprobs', 'temperature', 'reasoning', 'usage', 'max_output_tokens', 'max_tool_calls', 'store',
  'background', 'service_tier', 'metadata', 'safety_identifier', 'prompt_cache_key',
];
/** What a message item's text streams as, between its output_item.added and its completion. */
const MESSAGE_ITEM_EVENTS = ['response.output_item.added', 'response.content_part.added'];
const MESSAGE_ITEM_END = ['response.output_text.done', 'response.content_part.done', 'response.output_item.done'];

/** Named server-sent events, each `event: <type>` then `data: <json>` whose `type` is the same. */
export async function readNamedEvents(t: Test, response: Response): Promise<Json[]> {
  t.equal(response.status, 200, 'status 200');
  t.equal(response.headers.get('content-type'), 'text/event-stream', 'content-type text/event-stream');
  const text = await response.text();
  t.ok(text.endsWith('\n\n'), 'the last event ends with a blank line');
  t.notMatch(text, /data: \[DONE\]/, 'no [DONE] marker');
  return text
    .replace(/\n\n$/, '')
    .split('\n\n')
    .map((frame) => {
      const [event, data, ...rest] = frame.split('\n');
      t.same(rest, [], 'an event line and a data line');
      const parsed = JSON.parse((data ?? '').replace(/^data: /, '')) as Json;
      t.equal(event, `event: ${parsed.type}`, `the event is named ${parsed.type}`);
      return parsed;
    });
}

/** The events' types with each run of text deltas folded into one. */
export function shapeOf(events: Json[], delta: string): string[] {
  return events.map((e) => e.type as string).filter((type, i, all) => type !== delta || all[i - 1] !== delta);
}

export function responsesAndMessages(endpoint: Endpoint, scratch: string): void {
  const input = 'Once upon a time';

  endpoint('POST /v1/responses', (check) => {
    check('a whole response carries all of Ollama\'s fields, the request echoed', async (t, { url, model }) => {
      const got = await call(url, '/v1/responses', { model, input, instructions: 'Be brief.', max_output_tokens: NUM_PREDICT, temperature: 0 });
      t.equal(got.status, 200);
      t.same(Object.keys(got.body), RESPONSE_FIELDS);
      t.match(got.body, {
        id: /^resp_\d+$/,
        object: 'response',
        status: 'completed',
        model,
        instructions: 'Be brief.',
        error: null,
        tools: [],
        tool_choice: 'auto',
        truncation: 'disabled',
        parallel_tool_calls: true,
        text: { format: { type: 'text' } },
        top_p: 1,
        temperature: 0,
        reasoning: null,
        max_output_tokens: NUM_PREDICT,
        store: false,
        background: false,
        service_tier: 'default',
        metadata: {},
      });
      t.ok(got.body.completed_at >= got.body.created_at, 'completed_at, in seconds, is not before created_at');
      const [item, ...rest] = got.body.output;
      t.same(rest, [], 'one output item');
      t.match(item, { id: /^msg_\d+$/, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: String, annotations: [], logprobs: [] }] });
      const usage = got.body.usage;
      t.same(Object.keys(usage), ['input_tokens', 'output_tokens', 'total_tokens', 'input_tokens_details', 'output_tokens_details']);
      t.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
      t.ok(usage.output_tokens <= NUM_PREDICT);
      t.same([usage.input_tokens_details, usage.output_tokens_details], [{ cached_tokens: 0 }, { reasoning_tokens: 0 }]);
    });

    check('a stream runs response.created, in_progress, the message item, response.completed, numbered from 0', async (t, { url, model }) => {
      const events = await readNamedEvents(t, await send(url, '/v1/responses', { model, input, max_output_tokens: NUM_PREDICT, temperature: 0, stream: true }));
      t.same(events.map((e) => e.sequence_number), events.map((_, i) => i), 'sequence_number counts every event from 0');
      const shape = shapeOf(events, 'response.output_text.delta');
      const wrote = shape.includes('response.output_text.delta');
      const item = wrote ? [...MESSAGE_ITEM_EVENTS, 'response.output_text.delta', ...MESSAGE_ITEM_END] : [];
      t.same(shape, ['response.created', 'response.in_progress', ...item, 'response.completed']);
      const [created, inProgress] = events;
      t.match(created!.response, { status: 'in_progress', output: [], usage: null, completed_at: null });
      t.equal(inProgress!.response.id, created!.response.id);
      const completed = events.at(-1)!.response as Json;
      t.same(Object.keys(completed), RESPONSE_FIELDS);
      t.match(completed, { id: created!.response.id, status: 'completed', model });
      const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
      if (wrote) t.equal(completed.output[0].content[0].text, text, 'the completed message holds the streamed text');
    });

    check('the official openai client: responses.create, whole and streamed, and its errors', async (t, { url, model }) => {
      const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const whole = await openai.responses.create({ model, input, max_output_tokens: NUM_PREDICT, temperature: 0 });
      t.equal(whole.object, 'response');
      t.type(whole.output_text, 'string');
      t.equal(whole.usage!.total_tokens, whole.usage!.input_tokens + whole.usage!.output_tokens);
      let streamed = '';
      let completed: OpenAI.Responses.Response | undefined;
      for await (const event of await openai.responses.create({ model, input: [{ role: 'user', content: input }], max_output_tokens: NUM_PREDICT, temperature: 0, stream: true })) {
        if (event.type === 'response.output_text.delta') streamed += event.delta;
        if (event.type === 'response.completed') completed = event.response;
      }
      t.equal(completed?.status, 'completed', 'the stream ends with response.completed');
      t.equal(streamed, whole.output_text, 'greedy: the same text whole and streamed');
      const missing = `${scratch}-missing`;
      await t.rejects(openai.responses.create({ model: missing, input }), { constructor: OpenAI.NotFoundError, status: 404, message: `404 model '${missing}' not found` });
    });

    check('malformed requests are 400 in OpenAI\'s shape with Ollama\'s words', async (t, { url, model }) => {
      const cases: [Json, string][] = [
        [{ model, input: [{ type: 'bogus' }] }, 'input[0]: unknown input item type: "bogus"'],
        [{ model, input: [{ content: 'x' }] }, "input[0]: input item missing required 'type' field"],
        [{ model, input: 'x', reasoning: { effort: 'extreme' } }, 'invalid reasoning value: "extreme" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")'],
        [{ input: 'x' }, 'model is required'],
      ];
      for (const [body, message] of cases) {
        const got = await call(url, '/v1/responses', body);
        checkOpenAiError(t, got, 400, 'invalid_request_error', JSON.stringify(body));
        t.equal(got.body.error.message, message);
      }
    });
  });

  endpoint('POST /v1/messages', (check) => {
    const headers = { 'anthropic-version': '2023-06-01', 'x-api-key': 'unused', 'content-type': 'application/json' };
    const post = (url: string, body: Json) => fetch(`${url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });

    check('a whole message: id, type, role, model, content blocks, stop_reason and usage', async (t, { url, model }) => {
      const response = await post(url, { model, max_tokens: NUM_PREDICT, system: 'Be brief.', messages: [{ role: 'user', content: input }], temperature: 0 });
      t.equal(response.status, 200);
      const body = (await response.json()) as Json;
      t.match(body, { id: /^msg_[0-9a-f]{24}$/, type: 'message', role: 'assistant', model, usage: { input_tokens: Number, output_tokens: Number } });
      // Ollama writes a message without blocks as null, a node as [].
      t.ok(body.content === null || Array.isArray(body.content), 'content is a list of blocks');
      t.ok(['end_turn', 'max_tokens'].includes(body.stop_reason), `stop_reason ${body.stop_reason}`);
      t.same(Object.keys(body.usage), ['input_tokens', 'output_tokens']);
      t.ok(body.usage.output_tokens <= NUM_PREDICT);
      for (const block of (body.content ?? []) as Json[]) t.match(block, { type: 'text', text: String });
    });

    check('a stream: message_start, text blocks in index order, message_delta, message_stop', async (t, { url, model }) => {
      const events = await readNamedEvents(t, await post(url, { model, max_tokens: NUM_PREDICT, stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: input }] }], temperature: 0 }));
      const shape = shapeOf(events, 'content_block_delta');
      const block = shape.includes('content_block_delta') ? ['content_block_start', 'content_block_delta', 'content_block_stop'] : [];
      t.same(shape, ['message_start', ...block, 'message_delta', 'message_stop']);
      t.match(events[0]!.message, { id: /^msg_[0-9a-f]{24}$/, type: 'message', role: 'assistant', model, content: [], usage: { input_tokens: Number, output_tokens: 0 } });
      for (const e of events.filter((e) => e.type.startsWith('content_block'))) t.equal(e.index, 0, `${e.type} is block 0`);
      if (block.length) t.same(events[1]!.content_block, { type: 'text', text: '' });
      const delta = events.at(-2)!;
      t.ok(['end_turn', 'max_tokens'].includes(delta.delta.stop_reason), `stop_reason ${delta.delta.stop_reason}`);
      t.match(delta.usage, { input_tokens: Number, output_tokens: Number });
      t.same(events.at(-1), { type: 'message_stop' });
    });

    check("errors take Anthropic's shape: type error, an error type from the status, a request id", async (t, { url, model }) => {
      const missing = `${scratch}-missing`;
      const cases: [Json, number, string, string][] = [
        [{ model, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'max_tokens is required and must be positive'],
        [{ model, max_tokens: 5, messages: [] }, 400, 'invalid_request_error', 'messages is required'],
        [{ max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 400, 'invalid_request_error', 'model is required'],
        [{ model: missing, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 404, 'not_found_error', `model '${missing}' not found`],
      ];
      for (const [body, status, type, message] of cases) {
        const response = await post(url, body);
        t.equal(response.status, status, JSON.stringify(body));
        const error = (await response.json()) as Json;
        t.same(Object.keys(error), ['type', 'error', 'request_id']);
        t.match(error, { type: 'error', error: { type, message }, request_id: /^req_[0-9a-f]{24}$/ });
      }
    });
  });
}
