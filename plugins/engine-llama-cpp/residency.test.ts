import t from 'tap';
import { Residency, ResidencyClosedError, type AcquireRequest } from './residency.js';
import { SlotPool } from './slots.js';

class FakeModel {
  disposed = false;
  constructor(readonly name: string) {}
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

function residency(capacity: number) {
  const unloadErrors: unknown[] = [];
  let clock = 0;
  const r = new Residency<FakeModel>({ capacity: () => capacity, onUnloadError: (_, e) => unloadErrors.push(e), now: () => ++clock });
  return { r, unloadErrors };
}

const never = new AbortController().signal;
function request(name: string, keepAliveMs = 60_000, overrides: Partial<AcquireRequest<FakeModel>> = {}): AcquireRequest<FakeModel> {
  return { name, fingerprint: 'f', keepAliveMs, load: async () => new FakeModel(name), signal: never, ...overrides };
}
const names = (r: Residency<FakeModel>) => [...r.residents()].map((v) => v.name).sort();
const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('a model loads once and is shared', async (t) => {
  const { r } = residency(3);
  let loads = 0;
  const load = async () => (loads++, new FakeModel('a'));
  const [a, b] = await Promise.all([r.acquire(request('a', 1000, { load })), r.acquire(request('a', 1000, { load }))]);
  t.equal(loads, 1);
  t.equal(a.resident, b.resident);
  t.ok(a.loadDuration > 0 || b.loadDuration > 0, 'the loading request reports a load duration');
  t.equal([...r.residents()][0]?.activeRequests, 2);
  await a.release();
  await a.release();
  t.equal([...r.residents()][0]?.activeRequests, 1, 'release is idempotent');
  await b.release();
  await r.close(0);
});

t.test('keep_alive 0 unloads when the last request ends; negative never expires', async (t) => {
  const { r } = residency(3);
  const zero = await r.acquire(request('zero', 0));
  const forever = await r.acquire(request('forever', -1));
  await zero.release();
  await forever.release();
  t.ok(zero.resident.disposed, 'keep_alive 0 disposed the model');
  t.same(names(r), ['forever']);
  t.equal([...r.residents()][0]?.expiresAt, Infinity);
  await r.close(0);
  t.ok(forever.resident.disposed, 'close disposes the rest');
});

t.test('a positive keep_alive unloads after it elapses, and a new request cancels the expiry', async (t) => {
  const r = new Residency<FakeModel>({ capacity: () => 3, onUnloadError: () => {} });
  const first = await r.acquire(request('a', 30));
  await first.release();
  t.ok([...r.residents()][0]!.expiresAt <= Date.now() + 30);
  await new Promise((resolve) => setTimeout(resolve, 10));
  const second = await r.acquire(request('a', 40));
  t.equal(second.resident, first.resident, 'still loaded');
  await new Promise((resolve) => setTimeout(resolve, 40));
  t.same(names(r), ['a'], 'no expiry while a request runs');
  await second.release();
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.same(names(r), [], 'expired');
  t.ok(first.resident.disposed);
});

t.test('at capacity the least recently used idle model is unloaded', async (t) => {
  const { r } = residency(2);
  const a = await r.acquire(request('a'));
  await a.release();
  const b = await r.acquire(request('b'));
  await b.release();
  await (await r.acquire(request('a'))).release();
  const c = await r.acquire(request('c'));
  await c.release();
  t.same(names(r), ['a', 'c']);
  t.ok(b.resident.disposed, 'b was used least recently');
  await r.close(0);
});

t.test('at capacity with every model busy, a load waits for one to become idle', async (t) => {
  const { r } = residency(1);
  const a = await r.acquire(request('a'));
  let loaded = false;
  const b = r.acquire(request('b')).then((lease) => ((loaded = true), lease));
  await tick();
  t.notOk(loaded, 'waiting');
  await a.release();
  const lease = await b;
  t.ok(a.resident.disposed);
  t.same(names(r), ['b']);
  await lease.release();
  await r.close(0);
});

t.test('a waiting load can be aborted', async (t) => {
  const { r } = residency(1);
  const a = await r.acquire(request('a'));
  const controller = new AbortController();
  const waiting = r.acquire(request('b', 1000, { signal: controller.signal }));
  controller.abort();
  await t.rejects(waiting, { name: 'AbortError' });
  await a.release();
  await r.close(0);
});

t.test('another fingerprint reloads once the model is idle', async (t) => {
  const { r } = residency(3);
  const first = await r.acquire(request('a'));
  let reloaded = false;
  const second = r.acquire(request('a', 1000, { fingerprint: 'g' })).then((lease) => ((reloaded = true), lease));
  await tick();
  t.notOk(reloaded, 'waits for the running request');
  await first.release();
  const lease = await second;
  t.ok(first.resident.disposed);
  t.not(lease.resident, first.resident);
  await lease.release();
  await r.close(0);
});

t.test('unload waits for running requests, and a failed load leaves nothing behind', async (t) => {
  const { r } = residency(3);
  const a = await r.acquire(request('a'));
  let unloaded = false;
  const unloading = r.unload('a').then(() => (unloaded = true));
  await tick();
  t.notOk(unloaded);
  await a.release();
  await unloading;
  t.ok(a.resident.disposed);
  await r.unload('a');
  await t.rejects(r.acquire(request('bad', 1000, { load: async () => Promise.reject(new Error('corrupt')) })), /corrupt/);
  t.same(names(r), []);
  await r.close(0);
});

t.test('close unloads everything and refuses new requests', async (t) => {
  const { r, unloadErrors } = residency(3);
  const a = await r.acquire(request('a'));
  const failing = await r.acquire(request('b', 1000, { load: async () => Object.assign(new FakeModel('b'), { dispose: async () => Promise.reject(new Error('busy')) }) }));
  await failing.release();
  await r.close(20);
  t.ok(a.resident.disposed, 'a busy model is disposed after the grace period');
  t.equal(unloadErrors.length, 1, 'dispose failures are reported');
  await t.rejects(r.acquire(request('c')), ResidencyClosedError);
});

t.test('slots serve requests in arrival order and prefer the best score', async (t) => {
  const pool = new SlotPool(['x', 'y']);
  t.equal(await pool.take(never, (s) => (s === 'y' ? 5 : 1)), 'y');
  t.equal(await pool.take(never), 'x');
  const order: string[] = [];
  const first = pool.take(never).then((s) => order.push(`first:${s}`));
  const second = pool.take(never).then((s) => order.push(`second:${s}`));
  t.equal(pool.queued, 2);
  pool.give('x');
  pool.give('y');
  await Promise.all([first, second]);
  t.same(order, ['first:x', 'second:y']);

  const controller = new AbortController();
  const aborted = pool.take(controller.signal);
  controller.abort();
  await t.rejects(aborted, { name: 'AbortError' });
  t.equal(pool.queued, 0, 'an aborted waiter leaves the queue');
  const waiting = pool.take(never);
  pool.close(new Error('unloaded'));
  await t.rejects(waiting, /unloaded/);
  await t.rejects(pool.take(never), /unloaded/);
});

t.test('makeRoom unloads idle models least recently used first, waits for busy ones, and gives up with none left', async (t) => {
  const { r } = residency(5);
  const free = { bytes: 0 };
  const fits = (bytes: number) => async () => free.bytes >= bytes;
  const held = new Map<string, number>([['old', 1], ['recent', 1], ['busy', 1]]);
  const load = (name: string) => async () => {
    const model = new FakeModel(name);
    const dispose = model.dispose.bind(model);
    model.dispose = async () => ((free.bytes += held.get(name) ?? 0), dispose());
    return model;
  };
  for (const name of ['old', 'recent']) await (await r.acquire(request(name, -1, { load: load(name) }))).release();
  const busy = await r.acquire(request('busy', -1, { load: load('busy') }));

  t.ok(await r.makeRoom('new', fits(1), never), 'one idle model was enough');
  t.same(names(r), ['busy', 'recent'], 'the least recently used went first');

  let made: boolean | undefined;
  const waiting = r.makeRoom('new', fits(3), never).then((ok) => (made = ok));
  await tick();
  t.same(names(r), ['busy'], 'the other idle model went too');
  t.equal(made, undefined, 'then it waits for the busy one');
  await busy.release();
  await waiting;
  t.equal(made, true, 'which unloaded once idle');

  t.notOk(await r.makeRoom('new', fits(10), never), 'with nothing left to unload it gives up');
  await r.close(0);
});
