// OLLAMA_HOST resolution and the CLI's text formats match Ollama's envconfig and format packages.

import t from 'tap';
import { goDuration, humanBytes, humanNumber, humanTime, table } from './format.js';
import { ollamaHost } from './host.js';

t.test('OLLAMA_HOST forms', async (t) => {
  const cases: [string, string][] = [
    ['', 'http://127.0.0.1:11434'],
    ['1.2.3.4', 'http://1.2.3.4:11434'],
    ['example.com', 'http://example.com:11434'],
    [':1234', 'http://127.0.0.1:1234'],
    ['0.0.0.0:5678', 'http://0.0.0.0:5678'],
    ['http://node.local', 'http://node.local:80'],
    ['https://node.local', 'https://node.local:443'],
    ['http://10.0.0.2:11435/', 'http://10.0.0.2:11435'],
    ['https://gw.example.com:8443/ollama/', 'https://gw.example.com:8443/ollama'],
    ['[::1]:9000', 'http://[::1]:9000'],
    ['::1', 'http://[::1]:11434'],
    ['"127.0.0.1:7000"', 'http://127.0.0.1:7000'],
    ['host:99999', 'http://host:11434'],
  ];
  for (const [input, url] of cases) t.equal(ollamaHost(input), url, JSON.stringify(input));
});

t.test('sizes, counts and durations', async (t) => {
  // Ollama's format/bytes_test.go TestHumanBytes: the CLI's tables and its progress bars share it.
  const sizes: [number, string][] = [
    [0, '0 B'], [1, '1 B'], [999, '999 B'],
    [1000, '1 KB'], [1500, '1.5 KB'], [999_999, '999 KB'],
    [1_000_000, '1 MB'], [1_500_000, '1.5 MB'], [999_999_999, '999 MB'],
    [1_000_000_000, '1 GB'], [1_500_000_000, '1.5 GB'], [999_999_999_999, '999 GB'],
    [1_000_000_000_000, '1 TB'], [1_500_000_000_000, '1.5 TB'], [1_999_999_999_999, '2.0 TB'],
    [1234, '1.2 KB'], [1_234_567, '1.2 MB'], [1_234_567_890, '1.2 GB'],
  ];
  for (const [bytes, text] of sizes) t.equal(humanBytes(bytes), text, String(bytes));
  t.equal(humanNumber(8_030_261_248), '8.0B');
  t.equal(humanNumber(7_000_000_000), '7B');
  t.equal(humanNumber(124_440_000), '124.44M');
  t.equal(humanNumber(2_000_000), '2M');
  t.equal(humanNumber(45_312), '45K');
  t.equal(humanNumber(512), '512');
  t.equal(goDuration(0), '0s');
  t.equal(goDuration(999), '999ns');
  t.equal(goDuration(350_000), '350µs');
  t.equal(goDuration(12_500_000), '12.5ms');
  t.equal(goDuration(1_500_000_000), '1.5s');
  t.equal(goDuration(62_003_000_000), '1m2.003s');
  t.equal(goDuration(3_600_000_000_000), '1h0m0s');
});

t.test('relative times', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const at = (ms: number) => new Date(now + ms);
  t.equal(humanTime(undefined, 'Never', now), 'Never');
  t.equal(humanTime(new Date(0), 'Never', now), 'Never');
  t.equal(humanTime(at(-500), 'Never', now), 'Less than a second ago');
  t.equal(humanTime(at(-1_000), 'Never', now), '1 second ago');
  t.equal(humanTime(at(-45_000), 'Never', now), '45 seconds ago');
  t.equal(humanTime(at(-90_000), 'Never', now), 'About a minute ago');
  t.equal(humanTime(at(-120_000), 'Never', now), '2 minutes ago');
  t.equal(humanTime(at(-3_600_000), 'Never', now), 'About an hour ago');
  t.equal(humanTime(at(-5 * 3_600_000), 'Never', now), '5 hours ago');
  t.equal(humanTime(at(-3 * 86_400_000), 'Never', now), '3 days ago');
  t.equal(humanTime(at(-21 * 86_400_000), 'Never', now), '3 weeks ago');
  t.equal(humanTime(at(-90 * 86_400_000), 'Never', now), '3 months ago');
  t.equal(humanTime(at(-3 * 365 * 86_400_000), 'Never', now), '3 years ago');
  t.equal(humanTime(at(4 * 60_000 + 500), 'Never', now), '4 minutes from now');
  t.equal(humanTime(at(300 * 365 * 86_400_000), 'Never', now), 'Forever');
});

t.test('tables pad columns four spaces apart', async (t) => {
  t.equal(
    table([
      ['NAME', 'ID', 'SIZE'],
      ['tiny:latest', 'abcdef012345', '470 KB'],
    ]),
    'NAME           ID              SIZE\ntiny:latest    abcdef012345    470 KB\n',
  );
});
