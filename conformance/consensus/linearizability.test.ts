import t from 'tap';
import { check, kvHistoryFromEvents, kvModel, type KvEvent, type KvOperation, type Model } from './linearizability.js';
import { prng } from '../fixtures/prng.js';

const put = (clientId: number, key: string, value: string, call: number, ret: number): KvEvent => ({
  clientId, kind: 'put', key, value, call, return: ret,
});
const get = (clientId: number, key: string, output: string | undefined, call: number, ret: number): KvEvent => ({
  clientId, kind: 'get', key, output, call, return: ret,
});
const cas = (clientId: number, key: string, from: string, to: string, output: boolean | undefined, call: number, ret: number): KvEvent => ({
  clientId, kind: 'cas', key, from, to, output, call, return: ret,
});
const verdict = (events: KvEvent[]) => check(kvModel, kvHistoryFromEvents(events)).result;

t.test('hand-written histories', async (t) => {
  const cases: [string, KvEvent[], 'ok' | 'illegal'][] = [
    ['empty history', [], 'ok'],
    ['read of a missing key', [get(0, 'k', undefined, 0, 1)], 'ok'],
    ['read after a completed write sees it', [put(0, 'k', 'a', 0, 1), get(1, 'k', 'a', 2, 3)], 'ok'],
    ['stale read after a completed write', [put(0, 'k', 'a', 0, 1), get(1, 'k', undefined, 2, 3)], 'illegal'],
    [
      'stale read of an overwritten value',
      [put(0, 'k', 'a', 0, 1), put(0, 'k', 'b', 2, 3), get(1, 'k', 'a', 4, 5)],
      'illegal',
    ],
    ['read concurrent with a write may see either', [put(0, 'k', 'a', 0, 10), get(1, 'k', undefined, 1, 2), get(2, 'k', 'a', 3, 4)], 'ok'],
    [
      'reads going back in time during a write',
      [put(0, 'k', 'a', 0, 10), get(1, 'k', 'a', 1, 2), get(2, 'k', undefined, 3, 4)],
      'illegal',
    ],
    ['a value never written', [put(0, 'k', 'a', 0, 1), get(1, 'k', 'z', 2, 3)], 'illegal'],
    [
      'concurrent writes, later reads agree on b last',
      [put(0, 'k', 'a', 0, 5), put(1, 'k', 'b', 0, 5), get(2, 'k', 'b', 6, 7), get(3, 'k', 'b', 8, 9)],
      'ok',
    ],
    [
      'concurrent writes, later reads agree on a last',
      [put(0, 'k', 'a', 0, 5), put(1, 'k', 'b', 0, 5), get(2, 'k', 'a', 6, 7), get(3, 'k', 'a', 8, 9)],
      'ok',
    ],
    [
      'two readers see concurrent writes in opposite orders',
      [
        put(0, 'k', 'a', 0, 10),
        put(1, 'k', 'b', 0, 10),
        get(2, 'k', 'a', 1, 2),
        get(2, 'k', 'b', 3, 4),
        get(3, 'k', 'b', 1, 2),
        get(3, 'k', 'a', 3, 4),
      ],
      'illegal',
    ],
    ['a lost write with unknown outcome that never took effect', [put(0, 'k', 'a', 0, Infinity), get(1, 'k', undefined, 5, 6)], 'ok'],
    ['a write with unknown outcome that took effect', [put(0, 'k', 'a', 0, Infinity), get(1, 'k', 'a', 5, 6)], 'ok'],
    [
      'a write with unknown outcome taking effect late',
      [put(0, 'k', 'a', 0, Infinity), get(1, 'k', undefined, 5, 6), get(1, 'k', 'a', 7, 8)],
      'ok',
    ],
    [
      'a write with unknown outcome cannot take effect before its call',
      [get(1, 'k', 'a', 0, 1), put(0, 'k', 'a', 2, Infinity)],
      'illegal',
    ],
    [
      'a write with unknown outcome takes effect at most once',
      [put(0, 'k', 'a', 0, Infinity), get(1, 'k', 'a', 1, 2), put(1, 'k', 'b', 3, 4), get(1, 'k', 'a', 5, 6)],
      'illegal',
    ],
    ['cas that swaps', [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'a', 'b', true, 2, 3), get(0, 'k', 'b', 4, 5)], 'ok'],
    ['cas that claims a swap from a value not there', [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'x', 'b', true, 2, 3)], 'illegal'],
    ['cas that claims no swap from the value there', [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'a', 'b', false, 2, 3)], 'illegal'],
    [
      'two cas from the same value cannot both win',
      [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'a', 'b', true, 2, 5), cas(2, 'k', 'a', 'c', true, 2, 5)],
      'illegal',
    ],
    [
      'a cas with unknown outcome that swapped',
      [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'a', 'b', undefined, 2, Infinity), get(0, 'k', 'b', 5, 6)],
      'ok',
    ],
    [
      'a cas with unknown outcome that did not',
      [put(0, 'k', 'a', 0, 1), cas(1, 'k', 'a', 'b', undefined, 2, Infinity), get(0, 'k', 'a', 5, 6)],
      'ok',
    ],
    ['a get with unknown outcome says nothing', [get(0, 'k', 'z', 0, Infinity)], 'ok'],
    ['operations that touch in time are concurrent', [put(0, 'k', 'a', 0, 5), get(1, 'k', undefined, 5, 6)], 'ok'],
  ];
  for (const [name, events, want] of cases) t.equal(verdict(events), want, name);
});

t.test('keys are checked independently', async (t) => {
  const events = [put(0, 'x', '1', 0, 1), put(0, 'y', '2', 2, 3), get(1, 'x', '1', 4, 5), get(1, 'y', '2', 4, 5)];
  t.equal(verdict(events), 'ok');
  t.same(
    kvModel.partition!(kvHistoryFromEvents(events)).map((part) => part.map((op) => op.input.key)),
    [['x', 'x'], ['y', 'y']],
  );
  const cross = [...events, get(2, 'y', undefined, 6, 7)];
  const result = check(kvModel, kvHistoryFromEvents(cross));
  t.equal(result.result, 'illegal', 'a stale read on one key fails the whole history');
  t.match(result.info, /get\(y\) -> missing/, 'the failure names the operation that could not be placed');
  t.match(result.info, /put\(y, "2"\)/, 'and the linearizable prefix');
  t.notMatch(result.info, /put\(x/, 'and only the failing key');
});

t.test('a generic model without partitioning: a register with equal and no hash', async (t) => {
  const register: Model<{ v: number }, { w?: number }, number | undefined> = {
    init: () => ({ v: 0 }),
    step: (s, input, output) => (input.w === undefined ? { ok: output === s.v, state: s } : { ok: true, state: { v: input.w } }),
    equal: (a, b) => a.v === b.v,
  };
  const op = (input: { w?: number }, output: number | undefined, call: number, ret: number) => ({ clientId: 0, input, output, call, return: ret });
  t.equal(check(register, [op({ w: 1 }, undefined, 0, 3), op({}, 0, 1, 2), op({}, 1, 4, 5)]).result, 'ok');
  t.equal(check(register, [op({ w: 1 }, undefined, 0, 1), op({}, 0, 2, 3)]).result, 'illegal');
});

t.test('malformed histories are refused with the operation named', async (t) => {
  t.throws(() => check(kvModel, kvHistoryFromEvents([put(0, 'k', 'a', 5, 1)])), /operation 0: return time 1 is before its call time 5/);
  t.throws(() => kvHistoryFromEvents([{ clientId: 3, kind: 'put', key: 'k', call: 0, return: 1 }]), /event 0 \(client 3, put k\): put needs a string value/);
  t.throws(() => kvHistoryFromEvents([cas(1, 'k', 'a', 'b', undefined, 0, 1)]), /cas output must be a boolean/);
});


/**
 * A history from a real sequential execution: operations take effect at points 1..n in order,
 * each client's operations never overlap, and each interval is drawn around its point. Every
 * written value is unique. Some writes get an unknown outcome; half of those never take effect.
 */
function generate(random: () => number, n: number, keys: number, clients: number): KvEvent[] {
  const store = new Map<string, string>();
  const owner = Array.from({ length: n }, () => Math.floor(random() * clients));
  const events: KvEvent[] = [];
  const lastReturn = new Array<number>(clients).fill(0);
  for (let p = 1; p <= n; p++) {
    const clientId = owner[p - 1]!;
    const key = `k${Math.floor(random() * keys)}`;
    const nextOwn = owner.indexOf(clientId, p);
    const until = nextOwn === -1 ? n + 1 : nextOwn + 1;
    const call = lastReturn[clientId]! + (p - lastReturn[clientId]!) * random();
    const ret = p + (until - p) * random() * 0.99;
    lastReturn[clientId] = ret;
    const unknown = random() < 0.05;
    const roll = random();
    const value = `v${p}`;
    if (roll < 0.35) {
      if (!(unknown && random() < 0.5)) store.set(key, value);
      events.push(put(clientId, key, value, call, unknown ? Infinity : ret));
    } else if (roll < 0.5) {
      const current = store.get(key);
      const from = current !== undefined && random() < 0.7 ? current : `v${Math.floor(random() * p)}`;
      const swapped = store.get(key) === from;
      if (swapped) store.set(key, value);
      events.push(cas(clientId, key, from, value, unknown ? undefined : swapped, call, unknown ? Infinity : ret));
    } else {
      events.push(get(clientId, key, store.get(key), call, ret));
    }
  }
  return events;
}

/**
 * Makes one read return a value no linearization allows: never written, or written by a put
 * that a later completed put (same key, wholly in between) overwrote before the read began.
 */
function corrupt(random: () => number, events: KvEvent[]): { events: KvEvent[]; how: string } | undefined {
  const reads = events.map((e, i) => [e, i] as const).filter(([e]) => e.kind === 'get');
  if (reads.length === 0) return undefined;
  const [read, at] = reads[Math.floor(random() * reads.length)]!;
  const puts = events.filter((e) => e.kind === 'put' && e.key === read.key && e.return !== Infinity);
  const stale = puts.filter((older) => puts.some((newer) => older.return < newer.call && newer.return < read.call));
  const mutated = [...events];
  if (stale.length > 0 && random() < 0.7) {
    const older = stale[Math.floor(random() * stale.length)]!;
    mutated[at] = { ...read, output: older.value };
    return { events: mutated, how: `read ${at} made to return overwritten ${older.value}` };
  }
  mutated[at] = { ...read, output: 'never-written' };
  return { events: mutated, how: `read ${at} made to return a value never written` };
}

t.test('random histories from sequential executions, then corrupted', async (t) => {
  const seed = Number(process.env.LIN_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (rerun with LIN_SEED=${seed})`);
  const random = prng(seed);
  const started = Date.now();
  let rounds = 0;
  while (Date.now() - started < 2500 && rounds < 300) {
    rounds++;
    const events = generate(random, 20 + Math.floor(random() * 120), 1 + Math.floor(random() * 3), 2 + Math.floor(random() * 6));
    const good = check(kvModel, kvHistoryFromEvents(events), { timeoutMs: 2000 });
    if (good.result !== 'ok') {
      t.fail(`round ${rounds}: a history from a real execution is ${good.result}`, { info: good.info });
      return;
    }
    const bad = corrupt(random, events);
    if (!bad) continue;
    const found = check(kvModel, kvHistoryFromEvents(bad.events), { timeoutMs: 2000 });
    if (found.result !== 'illegal') {
      t.fail(`round ${rounds}: ${bad.how}, yet the checker says ${found.result}`);
      return;
    }
  }
  t.pass(`${rounds} generated histories accepted, and each corrupted one refused`);
});

t.test('performance: 1,000 operations over 10 keys from 8 clients', async (t) => {
  const random = prng(42);
  const events = generate(random, 1000, 10, 8);
  const history: KvOperation[] = kvHistoryFromEvents(events);
  const started = performance.now();
  const result = check(kvModel, history);
  const ms = performance.now() - started;
  t.equal(result.result, 'ok');
  t.comment(`checked ${history.length} operations in ${ms.toFixed(1)} ms`);
  t.ok(ms < 1000, `under a second (${ms.toFixed(1)} ms)`);
});

t.test('a search too large for its time budget answers unknown', async (t) => {
  // Many concurrent writes and one impossible read: the search must try every order.
  const events: KvEvent[] = [];
  for (let i = 0; i < 40; i++) events.push(put(i, 'k', `v${i}`, 0, 100));
  events.push(get(99, 'k', 'never', 0, 100));
  t.equal(check(kvModel, kvHistoryFromEvents(events), { timeoutMs: 0 }).result, 'unknown');
});
