// The transfers command's line per copy: bar, bytes, speed, time left and holders while copying;
// the outcome once it ends.

import t from 'tap';
import type { TransferEntry } from '../../distribution/transfers.js';
import { transferLine } from './transfers.js';

const MiB = 1024 * 1024;
const entry = (fields: Partial<TransferEntry>): TransferEntry => ({
  model: 'big:latest',
  digest: 'sha256:ab',
  state: 'copying',
  total: 256 * MiB,
  done: 64 * MiB,
  kept: 0,
  fetched: 64 * MiB,
  speed: 32 * MiB,
  eta_seconds: 6,
  holders: ['node-1', 'node-3'],
  blobs: [],
  started_at: '2026-12-04T18:00:00.000Z',
  finished_at: null,
  ...fields,
});

t.test('a running copy shows its bar, bytes, speed, time left and holders', async (t) => {
  const line = transferLine(entry({}), 20);
  t.match(line, /^big:latest  25% ▕█████ {15}▏ /, 'a quarter of a 20-cell bar');
  t.match(line, /MB\/268 MB|MiB\/256 MiB/, 'bytes done of the total');
  t.match(line, /\/s +6s/, 'speed, then the time left');
  t.match(line, /from node-1, node-3$/, 'the holders it copies from');
  t.notMatch(transferLine(entry({ speed: 0, eta_seconds: null }), 20), /\/s/, 'no speed before one is known');
});

t.test('a finished copy shows its outcome', async (t) => {
  t.match(transferLine(entry({ state: 'done', done: 256 * MiB }), 20), /100% ▕█{20}▏ .* done$/);
  t.match(transferLine(entry({ state: 'failed', error: 'no holder left' }), 20), /failed: no holder left$/);
});
