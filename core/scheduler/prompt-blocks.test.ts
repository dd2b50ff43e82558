import t from 'tap';
import { prng } from '../../conformance/fixtures/prng.js';
import { MAX_PROMPT_BLOCKS, PROMPT_BLOCK_CHARS, promptBlocks } from './prompt-blocks.js';

const SEED = 20261203;
const random = prng(SEED);
const words = (n: number) => Array.from({ length: n }, () => ['the', 'node', 'cache', 'prompt', 'token', 'answer', 'slot', 'a'][Math.floor(random() * 8)]).join(' ');

function chat(turns: number): { role: string; content: string }[] {
  const messages = [{ role: 'system', content: `You are terse. ${words(40)}` }];
  for (let i = 0; i < turns; i++) messages.push({ role: 'user', content: words(30) }, { role: 'assistant', content: words(60) });
  return messages;
}

t.comment(`seed ${SEED}`);

t.test("a chat's earlier turns are a prefix of its later turns", async (t) => {
  const history = chat(12);
  let previous: readonly string[] = [];
  for (let turn = 1; turn <= 12; turn++) {
    const { promptBlocks: blocks } = promptBlocks('chat', { model: 'm', messages: history.slice(0, 1 + 2 * turn) });
    t.same(blocks.slice(0, previous.length), previous, `turn ${turn} extends turn ${turn - 1}`);
    t.ok(blocks.length >= previous.length);
    previous = blocks;
  }
  t.ok(previous.length > 8, `a 12-turn chat fills ${previous.length} blocks`);
});

t.test('chains diverge where the prompts do, and stay apart after', async (t) => {
  const messages = chat(6);
  const a = promptBlocks('chat', { messages }).promptBlocks;
  const edited = structuredClone(messages);
  edited[3].content = `${edited[3].content}!`;
  const b = promptBlocks('chat', { messages: edited }).promptBlocks;
  const firstDiff = a.findIndex((block, i) => block !== b[i]);
  t.ok(firstDiff > 0, 'the shared start hashes alike');
  t.ok(a.slice(firstDiff).every((block, i) => block !== b[firstDiff + i]), 'every later entry differs: it is a chain');
  t.not(promptBlocks('chat', { messages: [{ role: 'user', content: 'x'.repeat(300) }] }).promptBlocks[0], promptBlocks('chat', { messages: [{ role: 'system', content: 'x'.repeat(300) }] }).promptBlocks[0], 'the role counts');
});

t.test('one rendering across the four request shapes', async (t) => {
  const system = words(80);
  const prompt = words(120);
  const asChat = promptBlocks('chat', { messages: [{ role: 'system', content: system }, { role: 'user', content: prompt }] });
  t.same(promptBlocks('generate', { system, prompt }), asChat, 'generate = chat of system and prompt');
  t.same(promptBlocks('openai-chat', { messages: [{ role: 'system', content: [{ type: 'text', text: system }] }, { role: 'user', content: prompt }] }), asChat, 'OpenAI text parts = a string');
  t.same(promptBlocks('openai-completion', { prompt }), promptBlocks('generate', { prompt }), 'completion = generate');
  t.same(promptBlocks('openai-completion', { prompt: [prompt] }), promptBlocks('generate', { prompt }), 'a one-prompt list');
});

t.test('blocks are whole and capped; tokens count the whole prompt', async (t) => {
  t.same(promptBlocks('generate', { prompt: 'hi' }), { promptBlocks: [], promptTokens: 2 }, 'shorter than a block: no block');
  const long = 'x'.repeat(PROMPT_BLOCK_CHARS * 200);
  const { promptBlocks: blocks, promptTokens } = promptBlocks('generate', { prompt: long });
  t.equal(blocks.length, MAX_PROMPT_BLOCKS);
  t.ok(promptTokens >= long.length / 4, `${promptTokens} tokens`);
  t.match(blocks[0], /^[0-9a-f]{16}$/);
});

t.test('images end the hashed part', async (t) => {
  const before = [{ role: 'user', content: words(100) }];
  const withImage = [...before, { role: 'user', content: words(100), images: ['aGVsbG8='] }];
  t.same(promptBlocks('chat', { messages: withImage }).promptBlocks, promptBlocks('chat', { messages: before }).promptBlocks);
  t.same(promptBlocks('generate', { prompt: words(100), images: ['aGVsbG8='] }).promptBlocks, []);
});

t.test('malformed bodies give nothing and never throw', async (t) => {
  const odd: unknown[] = [null, 7, 'text', [], { messages: 'no' }, { messages: [null, 3, { role: 5, content: { a: 1 } }] }, { prompt: 9, system: [] }, { messages: [{ content: [null, { type: 'text', text: 4 }] }] }];
  for (const body of odd) {
    for (const source of ['generate', 'chat', 'openai-chat', 'openai-completion'] as const) {
      const figures = promptBlocks(source, body);
      t.same(figures.promptBlocks, [], `${source} ${JSON.stringify(body)}`);
      t.ok(Number.isInteger(figures.promptTokens) && figures.promptTokens >= 0);
    }
  }
});

t.test('cheap: a 20-turn chat in microseconds', async (t) => {
  const body = { model: 'm', messages: chat(20) };
  for (let i = 0; i < 200; i++) promptBlocks('chat', body);
  const runs = 2000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) promptBlocks('chat', body);
  const us = Number(process.hrtime.bigint() - start) / 1000 / runs;
  t.comment(`20-turn chat (${JSON.stringify(body).length} bytes, ${promptBlocks('chat', body).promptBlocks.length} blocks): ${us.toFixed(1)} µs`);
  t.ok(us < 500, `${us.toFixed(1)} µs per chat`);
});
