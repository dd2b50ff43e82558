// Exact-behaviour checks of the Ollama API suite on a model's thinking through /v1/responses
// (openai/responses.go: ToResponse's reasoning item, the stream converter's reasoning events) and
// /v1/messages (anthropic/anthropic.go: thinking blocks and thinking_delta), whole and streamed.

import type { Test } from 'tap';
import { THINKING_TEMPLATE } from '../fixtures/templates.js';
import { call, send, type Endpoint, type Json } from './index.js';
import { readNamedEvents, shapeOf } from './responses-and-messages.js';

/** The thinker's prompt ends inside <think>, so a short answer is all thinking. */
const TOKENS = 4;

async function thinkerFrom(t: Test, url: string, from: string, name: string): Promise<void> {
  const created = await call(url, '/api/create', { model: name, from, template: THINKING_TEMPLATE, stream: false });
  t.equal(created.status, 200, `created ${name}`);
}

export function thinkingInResponsesAndMessages(endpoint: Endpoint, scratch: string): void {
  const thinker = `${scratch}-reasoner`;

  endpoint('thinking through /v1/responses and /v1/messages', (check) => {
    check('/v1/responses: a reasoning item first, its summary the thinking; effort none thinks not', async (t, { url, model }) => {
      await thinkerFrom(t, url, model, thinker);
      const body = { model: thinker, input: 'Hello', max_output_tokens: TOKENS, temperature: 0 };
      const whole = await call(url, '/v1/responses', body);
      t.equal(whole.status, 200);
      const [reasoning, message] = whole.body.output as Json[];
      t.same(Object.keys(reasoning ?? {}), ['id', 'type', 'summary', 'encrypted_content'], 'ResponsesOutputItem fields of a reasoning item');
      t.equal(reasoning?.id, `rs_${whole.body.id}`, 'rs_ and the response id');
      t.equal(reasoning?.type, 'reasoning');
      const thinking = reasoning?.summary?.[0]?.text;
      t.ok(typeof thinking === 'string' && thinking !== '', 'the thinking is the summary text');
      t.same(reasoning?.summary, [{ type: 'summary_text', text: thinking }]);
      t.equal(reasoning?.encrypted_content, thinking, 'encrypted_content is the plain thinking');
      t.match(message, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: '' }] }, 'then the (empty) message item');
      t.same(whole.body.usage.output_tokens_details, { reasoning_tokens: 0 }, 'Ollama counts no reasoning tokens');

      const off = await call(url, '/v1/responses', { ...body, reasoning: { effort: 'none' } });
      t.same(off.body.output.map((item: Json) => item.type), ['message'], 'effort none: no reasoning item');
      t.not(off.body.output[0].content[0].text, '', 'effort none: the answer is text');
    }, [thinker]);

    check('/v1/responses stream: reasoning item added, summary text deltas, done, in response.completed', async (t, { url, model }) => {
      await thinkerFrom(t, url, model, thinker);
      const events = await readNamedEvents(t, await send(url, '/v1/responses', { model: thinker, input: 'Hello', max_output_tokens: TOKENS, temperature: 0, stream: true }));
      t.same(shapeOf(events, 'response.reasoning_summary_text.delta'), [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.reasoning_summary_text.delta',
        'response.reasoning_summary_text.done',
        'response.output_item.done',
        'response.completed',
      ]);
      const added = events[2]!;
      t.match(added.item, { id: /^rs_\d+$/, type: 'reasoning' });
      t.same(added.item, { id: added.item.id, type: 'reasoning', summary: [] }, 'opened with an empty summary');
      const deltas = events.filter((e) => e.type === 'response.reasoning_summary_text.delta');
      t.ok(deltas.every((e) => e.item_id === added.item.id && e.output_index === 0 && e.summary_index === 0), 'deltas name the item, output 0, summary 0');
      const thinking = deltas.map((e) => e.delta).join('');
      const done = events.find((e) => e.type === 'response.reasoning_summary_text.done')!;
      t.match(done, { item_id: added.item.id, output_index: 0, summary_index: 0, text: thinking });
      const item = { id: added.item.id, type: 'reasoning', summary: [{ type: 'summary_text', text: thinking }], encrypted_content: thinking };
      t.same(events.find((e) => e.type === 'response.output_item.done')?.item, item);
      t.same(events.at(-1)!.response.output, [item], 'response.completed lists the reasoning item');
    }, [thinker]);

    check('/v1/messages: a thinking block first, whole and streamed; thinking disabled has none', async (t, { url, model }) => {
      await thinkerFrom(t, url, model, thinker);
      const body = { model: thinker, max_tokens: TOKENS, temperature: 0, messages: [{ role: 'user', content: 'Hello' }] };
      const whole = await call(url, '/v1/messages', body);
      t.equal(whole.status, 200);
      const [block] = whole.body.content as Json[];
      t.same(Object.keys(block ?? {}), ['type', 'thinking'], 'a thinking block: no signature, no text');
      t.equal(block?.type, 'thinking');
      t.ok(typeof block?.thinking === 'string' && block.thinking !== '');
      const events = await readNamedEvents(t, await send(url, '/v1/messages', { ...body, stream: true }));
      t.same(shapeOf(events, 'content_block_delta'), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
      t.same(events[1], { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
      const deltas = events.filter((e) => e.type === 'content_block_delta');
      t.ok(deltas.every((e) => e.index === 0 && e.delta.type === 'thinking_delta' && Object.keys(e.delta).join() === 'type,thinking'), 'thinking_delta deltas');
      t.equal(deltas.map((e) => e.delta.thinking).join(''), block?.thinking, 'the stream thinks what the whole message does');
      t.same(events.find((e) => e.type === 'content_block_stop'), { type: 'content_block_stop', index: 0 });
      const off = await call(url, '/v1/messages', { ...body, thinking: { type: 'disabled' } });
      t.same(off.body.content.map((b: Json) => b.type), ['text'], 'thinking disabled: only text');
    }, [thinker]);
  });
}
