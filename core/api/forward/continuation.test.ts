import t from 'tap';
import { continuationBody, continuationHeaders, splicedDialect, streamedAs } from './continuation.js';
import { CONTINUATION_HEADER } from './headers.js';

t.test('which streams are spliced: native ones unless stream is false, OpenAI ones when stream is true', async (t) => {
  t.equal(splicedDialect('POST', '/api/generate', { model: 'm' }), 'ndjson', 'Ollama streams by default');
  t.equal(splicedDialect('POST', '/api/chat', { model: 'm', stream: false }), undefined);
  t.equal(splicedDialect('POST', '/v1/chat/completions', { model: 'm' }), undefined, 'OpenAI does not stream by default');
  t.equal(splicedDialect('POST', '/v1/completions', { model: 'm', stream: true }), 'sse');
  t.equal(splicedDialect('POST', '/v1/responses', { model: 'm', stream: true }), undefined, 'typed event streams are not spliced');
  t.equal(splicedDialect('POST', '/api/embed', { model: 'm' }), undefined);
});

t.test('the continuation body: the client bytes, with a set token limit lowered by the tokens sent', async (t) => {
  const raw = Buffer.from('{"model":"m",  "prompt":"hi"}');
  t.equal(continuationBody(raw, 'ndjson', 5), raw, 'no limit: the same bytes');
  const limited = continuationBody(Buffer.from('{"model":"m","options":{"num_predict":20,"seed":3}}'), 'ndjson', 5)!;
  t.same(JSON.parse(limited.toString()), { model: 'm', options: { num_predict: 15, seed: 3 } });
  const spent = continuationBody(Buffer.from('{"options":{"num_predict":5}}'), 'ndjson', 5)!;
  t.same(JSON.parse(spent.toString()).options.num_predict, 1, 'at least one token, so the run ends with its own final line');
  t.equal(continuationBody(Buffer.from('{"options":{"num_predict":-1}}'), 'ndjson', 5)!.toString(), '{"options":{"num_predict":-1}}', 'no limit stays no limit');
  const openai = continuationBody(Buffer.from('{"max_tokens":10,"max_completion_tokens":12}'), 'sse', 4)!;
  t.same(JSON.parse(openai.toString()), { max_tokens: 6, max_completion_tokens: 8 });
  t.equal(continuationBody(undefined, 'sse', 1), undefined);
});

t.test('the continuation header carries the answer so far as base64url UTF-8', async (t) => {
  const headers = continuationHeaders('Héllo, wörld');
  t.equal(Buffer.from(headers[CONTINUATION_HEADER]!, 'base64url').toString('utf8'), 'Héllo, wörld');
});

t.test('only an answer streamed in the dialect is spliced', async (t) => {
  t.ok(streamedAs('ndjson', 'application/x-ndjson'));
  t.ok(streamedAs('sse', 'text/event-stream; charset=utf-8'));
  t.notOk(streamedAs('ndjson', 'application/json; charset=utf-8'), "an empty prompt's load answer comes whole");
  t.notOk(streamedAs('sse', undefined));
});
