import t from 'tap';
import { AnswerSplice } from './splice.js';

const b = (text: string) => Buffer.from(text, 'utf8');
const lines = (out: string) => out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);

t.test('native chat: complete lines pass on as they are, the text and tokens add up, a broken line is dropped', async (t) => {
  const splice = new AnswerSplice('ndjson', 1000);
  const first = '{"message":{"role":"assistant","content":"Hel"},"done":false}\n{"message":{"role":"assistant","content":"lo"},"do';
  t.equal(splice.push(b(first), 1001), '{"message":{"role":"assistant","content":"Hel"},"done":false}\n', 'only the complete line goes on');
  t.equal(splice.push(b('ne":false}\n{"message":{"content":" wo'), 1002), '{"message":{"role":"assistant","content":"lo"},"done":false}\n');
  t.equal(splice.text, 'Hello');
  t.equal(splice.tokens, 2);
  t.equal(splice.ended, undefined, 'no final line yet: the answer is open');

  splice.nextLeg();
  const out = splice.push(b('{"message":{"content":" world"},"done":false}\n{"message":{"content":""},"done":true,"eval_count":1,"prompt_eval_count":5,"total_duration":7}\n'), 1500);
  const [chunk, final] = lines(out);
  t.same(chunk, { message: { content: ' world' }, done: false }, 'the half line of the broken stream never went out');
  t.equal(final!.eval_count, 3, "the final count covers the whole answer: the two tokens before and the continuation's one");
  t.equal(final!.total_duration, 500e6, 'total_duration is the whole wall time since the request reached this node, in ns');
  t.equal(final!.prompt_eval_count, 5);
  t.equal(splice.text, 'Hello world');
  t.equal(splice.ended, 'done');
  t.equal(splice.push(b('{"response":"late"}\n'), 1600), '', 'nothing passes after the final line');
});

t.test('generate: response text; the first stream is relayed byte for byte, its final line too', async (t) => {
  const splice = new AnswerSplice('ndjson', 0);
  const stream = '{"response":"a","done":false}\n{"response":"é","done":false}\n{"response":"","done":true,"eval_count":2,"total_duration":9}\n';
  const bytes = b(stream);
  // A UTF-8 character split across chunks.
  const at = bytes.indexOf(0xc3) + 1;
  t.equal(splice.push(bytes.subarray(0, at), 1) + splice.push(bytes.subarray(at), 2), stream);
  t.equal(splice.text, 'aé');
  t.equal(splice.tokens, 2);
  t.equal(splice.ended, 'done');
});

t.test('an error line ends the answer; errorLine words one in each dialect', async (t) => {
  const native = new AnswerSplice('ndjson', 0);
  t.equal(native.push(b('{"response":"a","done":false}\n{"error":"engine failed"}\n'), 1), '{"response":"a","done":false}\n{"error":"engine failed"}\n');
  t.equal(native.ended, 'error');
  t.same(JSON.parse(native.errorLine('no node')), { error: 'no node' });
  const sse = new AnswerSplice('sse', 0);
  t.match(sse.errorLine('no node'), /^data: \{"error":\{"message":"no node"/);
  t.ok(sse.errorLine('x').endsWith('\n\n'));
});

t.test('OpenAI SSE: the continuation takes on the first stream id and created; usage covers the whole answer', async (t) => {
  const splice = new AnswerSplice('sse', 0);
  const chunk = (id: string, created: number, content: string, finish: string | null = null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, choices: [{ index: 0, delta: { role: 'assistant', content }, finish_reason: finish }] })}\n\n`;
  const first = chunk('chatcmpl-1', 100, 'Hi') + chunk('chatcmpl-1', 100, ' the') + 'data: {"id":"chatcmpl-1","cho';
  t.equal(splice.push(b(first), 1), chunk('chatcmpl-1', 100, 'Hi') + chunk('chatcmpl-1', 100, ' the'));
  t.equal(splice.tokens, 2);
  splice.nextLeg();
  const usage = `data: ${JSON.stringify({ id: 'chatcmpl-2', created: 200, choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } })}\n\n`;
  const out = splice.push(b(chunk('chatcmpl-2', 200, 're') + chunk('chatcmpl-2', 200, '', 'stop') + usage + 'data: [DONE]\n\n'), 2);
  const events = out.split('\n\n').filter(Boolean);
  t.equal(events.length, 4);
  t.equal(events[3], 'data: [DONE]');
  const data = events.slice(0, 3).map((e) => JSON.parse(e.slice('data: '.length)) as { id: string; created: number; usage?: Record<string, number> });
  t.same(data.map((d) => [d.id, d.created]), [['chatcmpl-1', 100], ['chatcmpl-1', 100], ['chatcmpl-1', 100]], 'one id and created for the whole stream');
  t.same(data[2]!.usage, { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 }, 'the tokens before count in usage');
  t.equal(splice.tokens, 3, 'the finish chunk is no token');
  t.equal(splice.text, 'Hi there');
  t.equal(splice.ended, 'done');
});

t.test('OpenAI completions: choices[0].text is the answer', async (t) => {
  const splice = new AnswerSplice('sse', 0);
  splice.push(b('data: {"id":"cmpl-1","created":1,"choices":[{"text":"ab","index":0,"finish_reason":null}]}\n\n'), 1);
  t.equal(splice.text, 'ab');
  t.equal(splice.tokens, 1);
});
