import t from 'tap';
import { CONTINUATION_FIELD, continuationBody, continuationOf, forwardedBody, splicedStream, streamedAs } from './continuation.js';

t.test('which streams are spliced: native ones unless stream is false, OpenAI ones when stream is true', async (t) => {
  t.same(splicedStream('POST', '/api/generate', { model: 'm' }), { dialect: 'ndjson', input: 'prompt' }, 'Ollama streams by default');
  t.equal(splicedStream('POST', '/api/chat', { model: 'm', stream: false }), undefined);
  t.same(splicedStream('POST', '/api/chat', { model: 'm' }), { dialect: 'ndjson', input: 'messages' });
  t.equal(splicedStream('POST', '/v1/chat/completions', { model: 'm' }), undefined, 'OpenAI does not stream by default');
  t.same(splicedStream('POST', '/v1/chat/completions', { model: 'm', stream: true }), { dialect: 'sse', input: 'messages' });
  t.same(splicedStream('POST', '/v1/completions', { model: 'm', stream: true }), { dialect: 'sse', input: 'prompt' });
  t.equal(splicedStream('POST', '/v1/responses', { model: 'm', stream: true }), undefined, 'typed event streams are not spliced');
  t.equal(splicedStream('POST', '/api/embed', { model: 'm' }), undefined);
});

const body = (value: unknown) => Buffer.from(JSON.stringify(value));
const parsed = (buffer: Buffer | undefined) => JSON.parse(buffer!.toString()) as Record<string, unknown>;

t.test('a chat goes on from a last assistant message holding the answer so far, its token limit lowered', async (t) => {
  const chat = { model: 'm', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 20, seed: 3 } };
  t.same(parsed(continuationBody(body(chat), { dialect: 'ndjson', input: 'messages' }, 5, 'Hello, wö')), {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hello, wö' }],
    options: { num_predict: 15, seed: 3 },
  });
  const openai = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, max_completion_tokens: 12, stream: true };
  t.same(parsed(continuationBody(body(openai), { dialect: 'sse', input: 'messages' }, 4, 'so far')), {
    ...openai,
    messages: [...openai.messages, { role: 'assistant', content: 'so far' }],
    max_tokens: 6,
    max_completion_tokens: 8,
  });
});

t.test('a prompt goes on from the continuation field; limits spent or absent', async (t) => {
  const prompt = { dialect: 'ndjson', input: 'prompt' } as const;
  t.same(parsed(continuationBody(body({ prompt: 'hi' }), prompt, 5, 'a b')), { prompt: 'hi', [CONTINUATION_FIELD]: 'a b' });
  t.same(parsed(continuationBody(body({ options: { num_predict: 5 } }), prompt, 5, 'x')).options, { num_predict: 1 }, 'at least one token, so the run ends with its own final line');
  t.same(parsed(continuationBody(body({ options: { num_predict: -1 } }), prompt, 5, 'x')).options, { num_predict: -1 }, 'no limit stays no limit');
  t.equal(continuationBody(undefined, prompt, 1, 'x'), undefined);
  t.equal(continuationBody(Buffer.from('[1]'), prompt, 1, 'x'), undefined);
});

t.test("the continuation field is the sending node's: a client's is dropped on the way and ignored where it arrives", async (t) => {
  const raw = body({ model: 'm', prompt: 'hi' });
  t.equal(forwardedBody(raw, JSON.parse(raw.toString())), raw, 'a body without it goes as the client sent it');
  const smuggled = { model: 'm', prompt: 'hi', [CONTINUATION_FIELD]: 'injected' };
  t.same(parsed(forwardedBody(body(smuggled), smuggled)), { model: 'm', prompt: 'hi' });
  t.equal(continuationOf(smuggled, false), undefined, 'not forwarded: ignored, as Ollama ignores unknown fields');
  t.equal(continuationOf(smuggled, true), 'injected');
  t.equal(continuationOf({ prompt: 'hi' }, true), undefined);
  t.throws(() => continuationOf({ [CONTINUATION_FIELD]: 42 }, true), { status: 400, message: `${CONTINUATION_FIELD} must be a string` });
});

t.test('only an answer streamed in the dialect is spliced', async (t) => {
  t.ok(streamedAs('ndjson', 'application/x-ndjson'));
  t.ok(streamedAs('sse', 'text/event-stream; charset=utf-8'));
  t.notOk(streamedAs('ndjson', 'application/json; charset=utf-8'), "an empty prompt's load answer comes whole");
  t.notOk(streamedAs('sse', undefined));
});
