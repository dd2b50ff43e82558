import t from 'tap';
import type { Token } from 'node-llama-cpp';
import { cutAtStop, heldBackLength, StopStringCutter } from './stop-strings.js';
import { TokenText } from './token-text.js';

function stream(chunks: string[], stops: string[]) {
  const cutter = new StopStringCutter(stops);
  let text = '';
  let stopped = false;
  for (const chunk of chunks) {
    const scan = cutter.push(chunk);
    text += scan.text;
    stopped = scan.stopped;
    if (stopped) break;
  }
  return { text: text + cutter.flush(), stopped };
}

t.test('cutAtStop cuts before the earliest stop string', async (t) => {
  t.same(cutAtStop('hello world', ['wor', 'lo']), { text: 'hel', stopped: true });
  t.same(cutAtStop('hello', ['x']), { text: 'hello', stopped: false });
  t.same(cutAtStop('hello', ['']), { text: 'hello', stopped: false }, 'empty stops are ignored');
  t.same(cutAtStop('stop', ['stop']), { text: '', stopped: true });
});

t.test('heldBackLength finds the longest tail that starts a stop string', async (t) => {
  t.equal(heldBackLength('abc<|im', ['<|im_end|>']), 4);
  t.equal(heldBackLength('abc', ['<|im_end|>']), 0);
  t.equal(heldBackLength('ab', ['bcd', 'abx']), 2);
});

t.test('streaming never sends text at or after a stop string', async (t) => {
  t.same(stream(['Hel', 'lo <|im', '_end|> more'], ['<|im_end|>']), { text: 'Hello ', stopped: true });
  t.same(stream(['a', 'b', 'c'], ['bc']), { text: 'a', stopped: true }, 'a stop split across chunks');
  t.same(stream(['x<', '|im_', 'start'], ['<|im_end|>']), { text: 'x<|im_start', stopped: false }, 'a false start is released');
  t.same(stream(['abc', 'END'], ['END', 'c']), { text: 'ab', stopped: true }, 'the earliest stop wins');
  t.same(stream(['partial <|im'], ['<|im_end|>']), { text: 'partial <|im', stopped: false }, 'flush releases held text');
});

t.test('a cutter that stopped ignores further text', async (t) => {
  const cutter = new StopStringCutter(['.']);
  t.same(cutter.push('one. two'), { text: 'one', stopped: true });
  t.same(cutter.push('three'), { text: '', stopped: true });
  t.equal(cutter.flush(), '');
  t.ok(cutter.stopped);
});

t.test('TokenText waits for the bytes that finish a character', async (t) => {
  const bytes = new Map<number, number>([...Buffer.from('a☃b')].map((byte, i) => [i, byte]));
  const decode = (tokens: readonly Token[]) => Buffer.from(tokens.map((token) => bytes.get(token)!)).toString('utf8');
  const text = new TokenText(decode);
  t.same([0, 1, 2, 3, 4].map((token) => text.push(token as Token)), ['a', '', '', '☃', 'b']);
  t.equal(text.flush(), '');
});

t.test('TokenText gives up on a broken sequence after four tokens', async (t) => {
  const text = new TokenText((tokens) => '\uFFFD'.repeat(tokens.length));
  t.same([1, 2, 3, 4].map((token) => text.push(token as Token)), ['', '', '', '\uFFFD\uFFFD\uFFFD\uFFFD']);
  text.push(5 as Token);
  t.equal(text.flush(), '\uFFFD', 'flush returns what is pending');
});

t.test('TokenText passes preceding tokens for spacing', async (t) => {
  const seen: number[][] = [];
  const text = new TokenText((tokens, last) => {
    seen.push([...last]);
    return String(tokens.length);
  });
  for (const token of [1, 2, 3, 4, 5, 6]) text.push(token as Token);
  t.same(seen.at(-1), [2, 3, 4, 5], 'the last four tokens');
});
