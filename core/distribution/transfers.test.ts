// A model copy's record: bytes summed over its blobs, speed over the recent window, time left, and
// what stays listed once copies end.

import t from 'tap';
import { Transfer, Transfers } from './transfers.js';

t.test('bytes, speed and time left follow the progress reports', async (t) => {
  let now = 0;
  const transfer = new Transfer('big:latest', () => now);
  transfer.plan([
    { digest: 'sha256:config', total: 100, done: 100, kept: 100 },
    { digest: 'sha256:model', total: 10_000, done: 0, kept: 0 },
  ]);
  t.equal(transfer.entry().eta_seconds, null, 'no time left before any speed is known');
  transfer.progress({ digest: 'sha256:model', done: 1500, kept: 500, fetched: 1000, holders: ['node-1'] });
  now = 2000;
  transfer.progress({ digest: 'sha256:model', done: 3500, kept: 500, fetched: 3000, holders: ['node-1', 'node-3'] });
  const entry = transfer.entry();
  t.equal(entry.total, 10_100);
  t.equal(entry.done, 3600, 'the kept config blob and chunks count as done');
  t.equal(entry.kept, 600, 'what was here when the copy began: the config blob and chunks from before a restart');
  t.equal(entry.speed, 1000, '2000 bytes in 2 s');
  t.equal(entry.eta_seconds, 7, '6500 bytes left at 1000 bytes/s');
  t.same(entry.holders, ['node-1', 'node-3']);
  t.equal(entry.digest, 'sha256:model');
  t.equal(entry.state, 'copying');

  now = 3000;
  transfer.finish();
  const done = transfer.entry();
  t.equal(done.state, 'done');
  t.equal(done.done, done.total, 'a finished copy holds every byte');
  t.equal(done.eta_seconds, 0);
  t.equal(done.finished_at, new Date(3000).toISOString());
});

t.test('a failed copy keeps its error; finished copies beyond the last 32 are dropped', async (t) => {
  const transfers = new Transfers();
  const failed = new Transfer('a:latest');
  transfers.add(failed);
  failed.finish(new Error('no holder left'));
  t.same(transfers.entries().map((e) => [e.state, e.error]), [['failed', 'no holder left']]);
  for (let i = 0; i < 40; i++) {
    const transfer = new Transfer(`m${i}:latest`);
    transfers.add(transfer);
    transfer.finish();
  }
  const running = new Transfer('live:latest');
  transfers.add(running);
  const models = transfers.entries().map((e) => e.model);
  t.ok(models.includes('live:latest'), 'a running copy is always listed');
  t.notOk(models.includes('a:latest'), 'the oldest finished copy is dropped');
  t.equal(models.length, 33, '32 finished copies and the running one');
});
