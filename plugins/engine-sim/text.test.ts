import t from 'tap';
import { StopFilter } from './stops.js';
import { BOS, embedding, outputWords, prng, runSeed, tokenCount, tokenize } from './synthetic.js';

t.test('the PRNG is deterministic per seed and stays in [0, 1)', async (t) => {
  const draw = (seed: number) => Array.from({ length: 100 }, prng(seed));
  t.same(draw(7), draw(7));
  t.not(draw(7).join(), draw(8).join());
  t.ok(draw(1).every((value) => value >= 0 && value < 1));
});

t.test('words are tokens, and a run seed depends on the seed and every prompt token', async (t) => {
  t.same(tokenize('  the sky\tis  blue\n'), tokenize('the sky is blue'));
  t.equal(tokenize('the sky is blue').length, 4);
  t.same(tokenize(''), []);
  t.ok(tokenize('a b c').every((id) => id > BOS));
  t.same(tokenize('one two three four', 2), tokenize('three four'), 'a limit keeps the last tokens');
  t.same(tokenize('x'.repeat(130)), tokenize(`${'x'.repeat(2)} ${'x'.repeat(64)} ${'x'.repeat(64)}`), 'a run without spaces is 64-character tokens, counted from its end');
  t.equal(tokenCount('a b c', 10), 3);
  t.equal(tokenCount('a b c d e', 2), 3, 'counting stops past the limit');
  t.not(runSeed(1, [1, 2, 3]), runSeed(2, [1, 2, 3]));
  t.not(runSeed(1, [1, 2, 3]), runSeed(1, [1, 2, 4]));
});

t.test('output words are plainly synthetic and seeded', async (t) => {
  const words = (seed: number) => Array.from({ length: 20 }, outputWords(seed)).map(({ word }) => word);
  t.same(words(3), words(3));
  t.ok(words(3).every((word) => /^sim-token-\d{1,3}$/.test(word)));
  t.not(words(3).join(), words(4).join());
  const [first] = Array.from({ length: 1 }, outputWords(3));
  t.same(tokenize(first!.word), [first!.id], 'an output word tokenizes to its own id');
});

t.test('embeddings are unit vectors, deterministic, closer for texts sharing words', async (t) => {
  const norm = (vector: number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
  const dot = (a: number[], b: number[]) => a.reduce((sum, value, index) => sum + value * b[index]!, 0);
  const sky = embedding('the sky is blue', 32);
  t.equal(sky.length, 32);
  t.ok(Math.abs(norm(sky) - 1) < 1e-9);
  t.same(embedding('the sky is blue', 32), sky);
  t.ok(Math.abs(norm(embedding('', 8)) - 1) < 1e-9, 'empty text still gives a unit vector');
  t.ok(dot(sky, embedding('the sky is grey', 32)) > dot(sky, embedding('fish swim in water', 32)));
  t.same(embedding('a b c d', 16, 2), embedding('a b', 16), 'maxWords truncates');
});

t.test('stop strings', async (t) => {
  const run = (stops: string[], pieces: string[]) => {
    const filter = new StopFilter(stops);
    const out: string[] = [];
    for (const piece of pieces) {
      const { text, stopped } = filter.push(piece);
      out.push(text);
      if (stopped) return { out, stopped };
    }
    out.push(filter.flush());
    return { out, stopped: false };
  };
  t.same(run([], ['a', ' b']), { out: ['a', ' b', ''], stopped: false }, 'no stops pass everything through');
  t.same(run(['b'], ['a', ' b', ' c']), { out: ['a', ' '], stopped: true }, 'output ends before the stop string');
  t.same(run(['x y'], ['a x', ' y', ' z']), { out: ['a ', ''], stopped: true }, 'a stop string spanning tokens is held back');
  t.same(run(['x y'], ['a x', ' z']), { out: ['a ', 'x z', ''], stopped: false }, 'held text is released when it cannot stop');
  t.same(run(['x y'], ['a x']), { out: ['a ', 'x'], stopped: false }, 'flush releases what is held');
  t.same(run(['', 'q'], ['a', 'q']), { out: ['a', ''], stopped: true }, 'empty stop strings are ignored');
});
