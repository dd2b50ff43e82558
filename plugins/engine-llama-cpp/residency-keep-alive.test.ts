// keep_alive beyond what one setTimeout can wait (2^31 - 1 ms, ~24.8 days): Node fires such a timer
// at once, which unloaded the model as the request ended. The wait must last, then still end.

import t from 'tap';
import { Residency, type AcquireRequest } from './residency.js';

class FakeModel {
  disposed = false;
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

const DAY_MS = 24 * 3600 * 1000;
const never = new AbortController().signal;
const request = (keepAliveMs: number): AcquireRequest<FakeModel> => ({
  name: 'a',
  fingerprint: 'f',
  keepAliveMs,
  load: async () => new FakeModel(),
  signal: never,
});

t.test('a 30-day keep_alive keeps the model past the end of the request', async (t) => {
  const r = new Residency<FakeModel>({ capacity: () => 1, onUnloadError: () => {} });
  const lease = await r.acquire(request(30 * DAY_MS));
  const released = Date.now();
  await lease.release();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(lease.resident.disposed, 'still loaded after 50 ms');
  const [view] = [...r.residents()];
  t.ok(view && Math.abs(view.expiresAt - (released + 30 * DAY_MS)) < 1000, 'expires 30 days on');
  await r.close(0);
});

t.test('the long wait is made of timers setTimeout can hold, and the model goes at its end', async (t) => {
  const scheduled: { delay: number; run: () => void }[] = [];
  const realSetTimeout = globalThis.setTimeout;
  // Timers are recorded instead of run, so 60 days pass in a few calls.
  globalThis.setTimeout = ((run: () => void, delay: number) => {
    scheduled.push({ run, delay });
    return realSetTimeout(() => {}, 0);
  }) as typeof setTimeout;
  t.teardown(() => void (globalThis.setTimeout = realSetTimeout));
  const r = new Residency<FakeModel>({ capacity: () => 1, onUnloadError: () => {} });
  const lease = await r.acquire(request(60 * DAY_MS));
  await lease.release();
  let waited = 0;
  while (!lease.resident.disposed && scheduled.length > 0) {
    const timer = scheduled.shift()!;
    t.ok(timer.delay >= 0 && timer.delay <= 2 ** 31 - 1, `timer of ${timer.delay} ms fits setTimeout`);
    waited += timer.delay;
    timer.run();
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(lease.resident.disposed, 'unloaded once the whole keep_alive has passed');
  t.equal(waited, 60 * DAY_MS, 'after exactly the keep_alive');
});
