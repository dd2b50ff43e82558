// The pull/push progress display: Ollama's size and time formats, speed over a recent window, the
// layer line, and the plain output used when stderr is not a terminal.

import { PassThrough } from 'node:stream';
import t from 'tap';
import { createProgressView, humanDuration, layerLine, RateMeter } from './transfer-progress.js';

t.test('durations read like ollama prints them', async (t) => {
  t.equal(humanDuration(40.4), '40s');
  t.equal(humanDuration(192), '3m12s');
  t.equal(humanDuration(3840), '1h4m');
});

t.test('speed comes from recent samples and restarts when a layer starts over', async (t) => {
  let now = 0;
  const meter = new RateMeter(5000, () => now);
  meter.sample(1_000_000);
  t.equal(meter.bytesPerSecond, undefined, 'no speed from one sample');
  now = 1000;
  meter.sample(51_000_000);
  t.equal(meter.bytesPerSecond, 50_000_000, 'bytes kept from an earlier pull do not count');
  now = 2000;
  meter.sample(0);
  t.equal(meter.bytesPerSecond, undefined);
});

t.test('a layer line shows percent, bar, sizes, speed and time left', async (t) => {
  let now = 0;
  const meter = new RateMeter(5000, () => now);
  meter.sample(0);
  now = 2000;
  meter.sample(100_000_000);
  const line = layerLine({ label: 'pulling 0123456789ab', total: 400_000_000, completed: 100_000_000, meter }, 20);
  t.equal(line, 'pulling 0123456789ab...  25% ▕█████               ▏ 100 MB/400 MB    50 MB/s     6s');
  t.equal(layerLine({ label: 'pulling 0123456789ab', total: 59, completed: 59, meter }, 4), 'pulling 0123456789ab... 100% ▕████▏ 59 B');
});

t.test('without a terminal, each status and each finished layer is one line', async (t) => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const view = createProgressView(stream as unknown as NodeJS.WriteStream);
  const digest = 'sha256:0123456789abcdef';
  view.update({ status: 'pulling manifest' });
  view.update({ status: 'pulling 0123456789ab', digest, total: 2_000_000 });
  view.update({ status: 'pulling 0123456789ab', digest, total: 2_000_000, completed: 1_000_000 });
  view.update({ status: 'pulling 0123456789ab', digest, total: 2_000_000, completed: 2_000_000 });
  view.update({ status: 'pulling 0123456789ab', digest, total: 2_000_000, completed: 2_000_000 });
  view.update({ status: 'verifying sha256 digest' });
  view.update({ status: 'writing manifest' });
  view.update({ status: 'success' });
  view.stop();
  t.equal(
    text,
    [
      'pulling manifest',
      'pulling 0123456789ab... 100% ▕██████████████████████████████▏ 2 MB',
      'verifying sha256 digest',
      'writing manifest',
      'success',
      '',
    ].join('\n'),
  );
});
