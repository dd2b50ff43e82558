// Model names parse and print as Ollama's do: defaults, hosts with ports, lengths; and no name
// that parses can point outside the store.

import t from 'tap';
import {
  formatModelName,
  InvalidModelNameError,
  manifestPathSegments,
  parseModelName,
  sameModel,
  type ModelName,
} from './name.js';

const name = (host: string, namespace: string, model: string, tag: string): ModelName => ({ host, namespace, model, tag });

t.test('parseModelName fills in Ollama defaults', async (t) => {
  const cases: [string, ModelName][] = [
    ['tiny', name('registry.ollama.ai', 'library', 'tiny', 'latest')],
    ['tiny:latest', name('registry.ollama.ai', 'library', 'tiny', 'latest')],
    ['llama3.2:1b', name('registry.ollama.ai', 'library', 'llama3.2', '1b')],
    ['me/tiny', name('registry.ollama.ai', 'me', 'tiny', 'latest')],
    ['me/tiny:v1', name('registry.ollama.ai', 'me', 'tiny', 'v1')],
    ['example.com/me/tiny:q4_0', name('example.com', 'me', 'tiny', 'q4_0')],
    ['localhost:5050/library/tiny:latest', name('localhost:5050', 'library', 'tiny', 'latest')],
    ['localhost:5050/library/tiny', name('localhost:5050', 'library', 'tiny', 'latest')],
    ['http://localhost:5050/library/tiny:latest', name('localhost:5050', 'library', 'tiny', 'latest')],
    ['https://example.com/me/tiny:v1', name('example.com', 'me', 'tiny', 'v1')],
    ['  tiny:v1  ', name('registry.ollama.ai', 'library', 'tiny', 'v1')],
    ['Me/Tiny:V1', name('registry.ollama.ai', 'Me', 'Tiny', 'V1')],
    ['_private/m_1:t-2.x', name('registry.ollama.ai', '_private', 'm_1', 't-2.x')],
  ];
  for (const [input, expected] of cases) t.same(parseModelName(input), expected, `'${input}'`);
});

t.test('parseModelName refuses names that could escape the store or break the rules', async (t) => {
  const invalid = [
    '',
    '   ',
    '../x',
    'a/../../b',
    '..',
    './tiny',
    'me/../tiny',
    'tiny/..',
    'tiny:..',
    'tiny:../../etc',
    '/tiny',
    'me//tiny',
    '//tiny',
    'tiny:',
    ':latest',
    'me/:v1',
    'host//tiny:v1',
    'a/b/c/d',
    'ti ny',
    'tiny:la test',
    '-tiny',
    'tiny:-v1',
    'me.you/tiny',
    'tiny:latest:extra',
    'a:b/c',
    'tiny\\..\\x',
    'tiny\0',
  ];
  for (const input of invalid) {
    t.throws(() => parseModelName(input), { code: 'OD_ERR_INVALID_MODEL_NAME' }, JSON.stringify(input));
  }
  t.throws(() => parseModelName(42 as unknown as string), { code: 'OD_ERR_INVALID_MODEL_NAME' }, 'a non-string');
  try {
    parseModelName('../x');
    t.fail('../x parsed');
  } catch (error) {
    t.ok(error instanceof InvalidModelNameError, 'the error is an InvalidModelNameError');
    t.equal((error as InvalidModelNameError).input, '../x', 'naming the input');
  }
});

t.test('parseModelName enforces the length of each part', async (t) => {
  const longest = { namespace: 80, model: 80, tag: 80, host: 350 };
  const build = (part: keyof typeof longest, length: number) => {
    const s = 'a'.repeat(length);
    if (part === 'model') return s;
    if (part === 'tag') return `tiny:${s}`;
    if (part === 'namespace') return `${s}/tiny`;
    return `${s}/library/tiny`;
  };
  for (const [part, max] of Object.entries(longest) as [keyof typeof longest, number][]) {
    t.equal(parseModelName(build(part, max))[part].length, max, `${part} of ${max} characters is accepted`);
    t.throws(() => parseModelName(build(part, max + 1)), { code: 'OD_ERR_INVALID_MODEL_NAME' }, `${part} of ${max + 1} is refused`);
  }
});

t.test('formatModelName prints the shortest form Ollama shows', async (t) => {
  t.equal(formatModelName(name('registry.ollama.ai', 'library', 'tiny', 'latest')), 'tiny:latest');
  t.equal(formatModelName(name('registry.ollama.ai', 'me', 'tiny', 'v1')), 'me/tiny:v1');
  t.equal(formatModelName(name('localhost:5050', 'library', 'tiny', 'latest')), 'localhost:5050/library/tiny:latest');
  t.equal(formatModelName(name('example.com', 'me', 'tiny', 'v1')), 'example.com/me/tiny:v1');
  for (const input of ['tiny', 'me/tiny:v1', 'localhost:5050/library/tiny:latest', 'Me/Tiny:V1']) {
    const parsed = parseModelName(input);
    t.same(parseModelName(formatModelName(parsed)), parsed, `'${input}' survives format and parse`);
  }
});

t.test('manifest paths are lower-cased and names compare without case', async (t) => {
  t.same(manifestPathSegments(parseModelName('Me/Tiny:V1')), ['registry.ollama.ai', 'me', 'tiny', 'v1']);
  t.same(manifestPathSegments(parseModelName('localhost:5050/library/tiny')), ['localhost:5050', 'library', 'tiny', 'latest']);
  t.ok(sameModel(parseModelName('Me/Tiny:V1'), parseModelName('me/tiny:v1')));
  t.notOk(sameModel(parseModelName('tiny:v1'), parseModelName('tiny:v2')));
});
