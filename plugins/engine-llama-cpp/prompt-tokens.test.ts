import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, resolveChatWrapper } from 'node-llama-cpp';
import t from 'tap';
import { writeTinyGguf } from '../../conformance/fixtures/tiny-gguf.js';
import { fitMessages } from './fit-messages.js';
import { SLICE_CHARS, tokenizeEnd, tokenizeStart, tokenizeTextEnd } from './prompt-tokens.js';

// node-llama-cpp checks its binary in a forked process on start; tap's loader hooks make that slow.
delete process.env['NODE_OPTIONS'];
process.execArgv.splice(0);

const dir = await mkdtemp(join(tmpdir(), 'prompt-tokens-'));
const llama = await getLlama({ gpu: false, build: 'never' });
const model = await llama.loadModel({ modelPath: (await writeTinyGguf(join(dir, 'tiny.gguf'))).path });
t.teardown(async () => {
  await model.dispose();
  await llama.dispose();
  await rm(dir, { recursive: true, force: true });
});

const texts = {
  words: 'The sky is blue. '.repeat(3000),
  'one run': 'a'.repeat(3 * SLICE_CHARS + 17),
  'lines and emoji': 'line 😀 é\n\n  indented\tword '.repeat(1500),
  'special tokens': 'text <s> more </s> '.repeat(2000),
};

t.test('sliced tokens equal tokenizing the whole text at once', async (t) => {
  for (const [name, text] of Object.entries(texts)) {
    for (const special of [false, true]) {
      const whole = model.tokenize(text, special);
      t.strictSame((await tokenizeEnd(model, text, special, Infinity)).tokens, whole, `${name}, special ${special}: from the end`);
      t.strictSame((await tokenizeStart(model, text, special, Infinity)).tokens, whole, `${name}, special ${special}: from the start`);
    }
  }
});

t.test('a limit stops early: the end keeps at least the last tokens, the start one past the limit', async (t) => {
  const text = texts['lines and emoji'];
  const whole = model.tokenize(text, false);
  const end = await tokenizeEnd(model, text, false, 100);
  t.equal(end.complete, false);
  t.ok(end.tokens.length >= 100 && end.tokens.length <= SLICE_CHARS * 4, `only a slice was tokenized (${end.tokens.length} tokens)`);
  t.strictSame(end.tokens, whole.slice(-end.tokens.length));
  const start = await tokenizeStart(model, text, false, 100);
  t.equal(start.complete, false);
  t.strictSame(start.tokens, whole.slice(0, 101));
  t.same(await tokenizeStart(model, 'short', false, 100), { tokens: model.tokenize('short', false), complete: true });
});

t.test("a chat format's text tokenizes as LlamaText.tokenize does it, and stops at the limit", async (t) => {
  const state = resolveChatWrapper(model).generateContextState({
    chatHistory: [
      { type: 'system', text: 'Be brief.' },
      { type: 'user', text: texts.words },
      { type: 'model', response: [] },
    ],
  });
  const whole = state.contextText.tokenize(model.tokenizer);
  t.strictSame((await tokenizeTextEnd(model, state.contextText, Infinity)).tokens, whole);
  const cut = await tokenizeTextEnd(model, state.contextText, 500);
  t.equal(cut.complete, false);
  t.strictSame(cut.tokens, whole.slice(-cut.tokens.length), 'the end of the same tokens');
});

t.test("a conversation keeps its latest message, system messages, then the newest that fit", async (t) => {
  const message = (role: 'system' | 'user' | 'assistant', content: string) => ({ role, content });
  const kept = await fitMessages(
    model,
    [message('system', 'Be brief.'), message('user', 'x'.repeat(600)), message('assistant', 'y'.repeat(300)), message('user', 'z'.repeat(200)), message('assistant', 'ok'), message('user', 'last')],
    1000,
  );
  t.same(kept.map((m) => m.content[0]), ['B', 'y', 'z', 'o', 'l'], 'the oldest user message no longer fits');
  const [alone] = await fitMessages(model, [message('system', 'Be brief.'), message('user', 'q'.repeat(50_000))], 1000);
  t.equal(alone!.content, 'q'.repeat(1000), 'a latest message longer than the context keeps its end');
});

t.test('a text tokenized again is not tokenized again, and each caller gets its own tokens', async (t) => {
  const text = 'a prompt sent twice <s> with a special token';
  const special = model.tokenize(text, true);
  const plain = model.tokenize(text, false);
  t.notSame(special, plain, 'the text tokenizes differently with and without special tokens');
  const tokenize = model.tokenize;
  let calls = 0;
  model.tokenize = ((...args: Parameters<typeof tokenize>) => {
    calls += 1;
    return tokenize.apply(model, args);
  }) as typeof tokenize;
  t.teardown(() => {
    model.tokenize = tokenize;
  });
  const first = (await tokenizeEnd(model, text, true, Infinity)).tokens;
  first.push(0 as (typeof first)[number]);
  t.strictSame((await tokenizeEnd(model, text, true, Infinity)).tokens, special, 'the same tokens, untouched by what the first caller did');
  t.strictSame((await tokenizeStart(model, text, true, Infinity)).tokens, special);
  t.equal(calls, 1, 'the tokenizer ran once');
  t.strictSame((await tokenizeEnd(model, text, false, Infinity)).tokens, plain, 'without special tokens it is another text');
  t.equal(calls, 2);
});
