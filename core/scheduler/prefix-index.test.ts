import t from 'tap';
import { prng } from '../../conformance/fixtures/prng.js';
import { PrefixIndex, sharedBlocks } from './prefix-index.js';

/** A hash chain: entry i names blocks 0..i of a prompt made of the given block texts. */
const chain = (...texts: string[]) => texts.map((_, i) => texts.slice(0, i + 1).join('|'));

t.test('the shared prefix of two chains', async (t) => {
  t.equal(sharedBlocks(chain('a', 'b', 'c'), chain('a', 'b', 'x', 'y')), 2);
  t.equal(sharedBlocks(chain('a'), chain('b')), 0);
  t.equal(sharedBlocks([], chain('a')), 0);
  t.equal(sharedBlocks(chain('a', 'b'), chain('a', 'b')), 2);
  const random = prng(11);
  for (let i = 0; i < 200; i++) {
    const texts = Array.from({ length: 1 + Math.floor(random() * 20) }, (_, k) => `t${k}`);
    const cut = Math.floor(random() * texts.length);
    const other = [...texts.slice(0, cut), 'x', ...texts.slice(cut + 1)];
    t.equal(sharedBlocks(chain(...texts), chain(...other)), cut, `diverging at ${cut}`);
  }
});

t.test('a node holds what was routed to it, per model', async (t) => {
  const index = new PrefixIndex();
  index.record('a', 'm', chain('sys', 'u1', 'a1'), 2);
  t.equal(index.cachedBlocks('a', 'm', chain('sys', 'u1', 'a1', 'u2')), 3, 'the next turn finds the whole history');
  t.equal(index.cachedBlocks('a', 'm', chain('sys', 'other')), 1, 'a shared system prompt');
  t.equal(index.cachedBlocks('b', 'm', chain('sys', 'u1')), 0, 'another node holds nothing');
  t.equal(index.cachedBlocks('a', 'other-model', chain('sys', 'u1')), 0, 'another model has its own cache');
  t.same(Array.from(index.lookup('m', chain('sys', 'u1'), [{ nodeId: 'b' }, { nodeId: 'a' }])), [0, 2]);
});

t.test('slots: the longest match is reused, else the least recently used is replaced', async (t) => {
  const index = new PrefixIndex();
  index.record('a', 'm', chain('x', '1'), 2);
  index.record('a', 'm', chain('y', '1'));
  t.equal(index.cachedBlocks('a', 'm', chain('x', '1')), 2, 'two slots hold two prompts');
  index.record('a', 'm', chain('x', '1', '2'));
  t.equal(index.cachedBlocks('a', 'm', chain('y', '1')), 2, 'the continuation reused x’s slot, y stays');
  index.record('a', 'm', chain('z'));
  t.equal(index.cachedBlocks('a', 'm', chain('y', '1')), 0, 'a new prompt evicts the least recently used (y)');
  t.equal(index.cachedBlocks('a', 'm', chain('x', '1', '2')), 3);
  index.record('a', 'm', chain('w'), 1);
  t.equal(index.cachedBlocks('a', 'm', chain('x', '1', '2')), 0, 'fewer slots reported: the oldest go');
  t.equal(index.size, 1);
  index.record('a', 'm', [], 4);
  t.equal(index.cachedBlocks('a', 'm', chain('w')), 1, 'a request without blocks changes nothing');
});

t.test('bounded by nodes × slots × blocks under many distinct prompts', async (t) => {
  const index = new PrefixIndex({ maxNodes: 8, maxSlots: 4, maxBlocks: 16 });
  const random = prng(5);
  for (let i = 0; i < 5000; i++) {
    const blocks = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, k) => `${i}:${k}`);
    index.record(`n${Math.floor(random() * 20)}`, `m${i % 3}`, blocks, Math.floor(random() * 100));
  }
  t.ok(index.size <= 8 * 4 * 16, `${index.size} hashes held`);
  t.throws(() => new PrefixIndex({ maxSlots: 0 }), RangeError);
});
