import fc from 'fast-check';
import t from 'tap';
import { stallDuring } from '../../conformance/fixtures/loop-stall.js';
import { MAX_DEPTH, parseJson } from './json-parse.js';

/** Tiny sizes send every value through the stepped path: batches, lone large elements, strings in stretches. */
const STEPPED = { wholeBody: 0 };
const bytes = (text: string) => Buffer.from(text);
const outcome = async (parse: () => unknown) => {
  try {
    return { value: await parse() };
  } catch (error) {
    return { error: error instanceof SyntaxError };
  }
};

t.test('the stepped parser gives what JSON.parse gives', async (t) => {
  const seed = Date.now();
  t.comment(`fast-check seed ${seed}`);
  await fc.assert(
    fc.asyncProperty(fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }), fc.integer({ min: 8, max: 96 }), fc.boolean(), async (value, smallValue, pretty) => {
      const text = JSON.stringify(value, null, pretty ? 2 : undefined);
      t.strictSame(await parseJson(bytes(text), { ...STEPPED, smallValue }), JSON.parse(text));
    }),
    { seed, numRuns: 400 },
  );
});

t.test('bad JSON is a SyntaxError exactly where JSON.parse throws one', async (t) => {
  const seed = Date.now();
  t.comment(`fast-check seed ${seed}`);
  const damaged = fc
    .tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.constantFrom('', ',', ']', '}', '"', '\\', ':', 'x', '\u0001', '[', '{'))
    .map(([value, at, insert]) => {
      const text = JSON.stringify(value);
      const cut = at % (text.length + 1);
      return text.slice(0, cut) + insert + text.slice(cut + (insert === '' ? 1 : 0));
    });
  await fc.assert(
    fc.asyncProperty(damaged, fc.integer({ min: 8, max: 64 }), async (text, smallValue) => {
      t.strictSame(await outcome(() => parseJson(bytes(text), { ...STEPPED, smallValue })), await outcome(() => JSON.parse(text)), JSON.stringify(text));
    }),
    { seed, numRuns: 600 },
  );
});

t.test('bytes that are not UTF-8 decode as Buffer.toString decodes them', async (t) => {
  const seed = Date.now();
  t.comment(`fast-check seed ${seed}`);
  const mangled = fc
    .tuple(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 8 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 6, min: 0x80, max: 0xff }))
    .map(([strings, at, junk]) => {
      const text = Buffer.from(JSON.stringify(strings));
      const cut = 2 + (at % Math.max(1, text.length - 4));
      return Buffer.concat([text.subarray(0, cut), junk, text.subarray(cut)]);
    });
  await fc.assert(
    fc.asyncProperty(mangled, fc.integer({ min: 8, max: 64 }), async (body, smallValue) => {
      t.strictSame(await outcome(() => parseJson(body, { ...STEPPED, smallValue })), await outcome(() => JSON.parse(body.toString('utf8'))));
    }),
    { seed, numRuns: 400 },
  );
});

t.test('edge cases: escapes cut at a stretch end, surrogate pairs, __proto__, depth', async (t) => {
  const escapes = JSON.stringify({ s: 'ab\u00e9\\"\n\t\u2028😀'.repeat(40) });
  for (const smallValue of [8, 9, 10, 11, 12, 13]) t.strictSame(await parseJson(bytes(escapes), { ...STEPPED, smallValue }), JSON.parse(escapes));
  const proto = '{"__proto__": {"polluted": true}, "list": [{"__proto__": 1}]}';
  const parsed = (await parseJson(bytes(proto), { ...STEPPED, smallValue: 8 })) as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(parsed), Object.prototype, 'the prototype is untouched');
  t.strictSame(Object.keys(parsed), ['__proto__', 'list']);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined);
  await t.rejects(parseJson(bytes('['.repeat(20_000) + ']'.repeat(20_000)), { ...STEPPED, smallValue: 8 }), { message: 'exceeded max depth' });
  const nested = (depth: number) => bytes(`{"options":${'{"a":'.repeat(depth - 1)}1${'}'.repeat(depth - 1)}}`);
  for (const sizes of [{}, STEPPED, { ...STEPPED, smallValue: 1 << 16 }]) {
    const value = await parseJson(nested(MAX_DEPTH), sizes);
    t.ok(JSON.stringify(value), `${MAX_DEPTH} levels parse, and what walks them again does not overflow`);
    await t.rejects(parseJson(nested(MAX_DEPTH + 1), sizes), { message: 'exceeded max depth' }, `${MAX_DEPTH + 1} levels are refused`);
  }
  t.strictSame(await parseJson(bytes(`  ${JSON.stringify({ a: [] })}  `), STEPPED), { a: [] });
});

t.test('a body near the 32 MiB cap parses without holding the event loop', async (t) => {
  // Built one at a time, and dropped after, so the test's own heap does not bring long GC pauses.
  const bodies: Record<string, () => string> = {
    'one long prompt': () => JSON.stringify({ model: 'tiny', prompt: 'a\\"é'.repeat(5_000_000) }),
    'many messages': () => JSON.stringify({ model: 'tiny', messages: Array.from({ length: 200_000 }, (_, i) => ({ role: 'user', content: `message ${i} ${'x'.repeat(100)}` })) }),
    'a long context': () => JSON.stringify({ model: 'tiny', context: Array.from({ length: 3_000_000 }, (_, i) => i) }),
  };
  for (const [name, make] of Object.entries(bodies)) {
    const body = make();
    const encoded = bytes(body);
    const { result, stall } = await stallDuring(() => parseJson(encoded));
    const size = `${(body.length / 2 ** 20).toFixed(1)} MiB`;
    t.ok(stall.cpuMs < 50, `${name} (${size}): at most ${stall.cpuMs.toFixed(1)} ms of work between two turns of the event loop`);
    t.comment(`${name}: longest event-loop delay ${stall.wallMs.toFixed(1)} ms`);
    t.strictSame(result, JSON.parse(body), `${name}: the same value`);
  }
});
