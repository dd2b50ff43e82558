// A linearizability checker for recorded histories (Wing & Gong's search with Lowe's memoization,
// as in Porcupine): is there one order of the operations, within their real-time intervals, that a
// sequential model accepts? Histories split into independent partitions (per key) first.

export interface Operation<I, O> {
  clientId: number;
  input: I;
  output: O;
  call: number;
  /**
   * Infinity when the outcome is unknown (timed out, connection lost): the operation may have
   * taken effect at any time after its call, or never. Its output is what it would have returned
   * had it taken effect.
   */
  return: number;
}

export interface Model<S, I, O> {
  init(): S;
  /** Applies `input` to `state`; `ok` is false when the model could not have answered `output`. */
  step(state: S, input: I, output: O): { ok: boolean; state: S };
  /** Defaults to comparing `hash`es. */
  equal?(a: S, b: S): boolean;
  /** Defaults to JSON.stringify. */
  hash?(s: S): string;
  /** Splits a history into parts checked independently (e.g. one per key). */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  /** For failure reports; defaults to JSON. */
  describe?(input: I, output: O): string;
}

export type CheckResult = { result: 'ok' | 'illegal' | 'unknown'; info?: string };

/** One end of an operation's interval in the time-ordered list the search walks. */
interface Entry {
  kind: 'call' | 'return';
  time: number;
  op: number;
  /** The call entry's return entry, absent for an operation whose outcome is unknown. */
  match?: Entry;
  prev?: Entry;
  next?: Entry;
}

class Bitset {
  constructor(readonly words: Uint32Array) {}
  static of(size: number): Bitset {
    return new Bitset(new Uint32Array(Math.ceil(size / 32) || 1));
  }
  with(bit: number): Bitset {
    const words = this.words.slice();
    words[bit >>> 5]! |= 1 << (bit & 31);
    return new Bitset(words);
  }
  key(): string {
    return Array.from(this.words, (w) => w.toString(36)).join('.');
  }
}

export function check<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  opts: { timeoutMs?: number } = {},
): CheckResult {
  for (const [i, op] of history.entries()) validate(op, i);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const parts = model.partition ? model.partition(history) : [history];
  let timedOut = false;
  for (const part of parts) {
    const outcome = checkPart(model, part, deadline);
    if (outcome.result === 'illegal') return outcome;
    if (outcome.result === 'unknown') timedOut = true;
  }
  return timedOut ? { result: 'unknown', info: 'timed out before the search finished' } : { result: 'ok' };
}

function validate(op: Operation<unknown, unknown>, i: number): void {
  if (!Number.isFinite(op.call)) throw new RangeError(`operation ${i}: call time ${op.call} is not a finite number`);
  if (Number.isNaN(op.return) || op.return < op.call) {
    throw new RangeError(`operation ${i}: return time ${op.return} is before its call time ${op.call}`);
  }
}

/** The time-ordered entries after a sentinel, which keeps lift and unlift free of head cases. */
function buildList(history: Operation<unknown, unknown>[]): Entry {
  const entries: Entry[] = [];
  history.forEach((op, i) => {
    const call: Entry = { kind: 'call', time: op.call, op: i };
    entries.push(call);
    if (op.return !== Infinity) {
      call.match = { kind: 'return', time: op.return, op: i };
      entries.push(call.match);
    }
  });
  // At equal times calls come first: operations that touch are treated as concurrent.
  entries.sort((a, b) => a.time - b.time || (a.kind === b.kind ? 0 : a.kind === 'call' ? -1 : 1));
  const head: Entry = { kind: 'call', time: -Infinity, op: -1 };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match;
  if (ret) {
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  }
}

function unlift(call: Entry): void {
  const ret = call.match;
  if (ret) {
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
  }
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function checkPart<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], deadline: number): CheckResult {
  const hash = model.hash ?? ((s: S) => JSON.stringify(s) ?? 'undefined');
  const equal = model.equal;
  const sentinel = buildList(history as Operation<unknown, unknown>[]);
  const mustPlace = history.filter((op) => op.return !== Infinity).length;
  // Memo of (linearized set, state) pairs already explored: Lowe's pruning.
  const seen = new Map<string, S[]>();
  const remember = (set: Bitset, state: S): boolean => {
    const key = equal ? set.key() : `${set.key()}|${hash(state)}`;
    const bucket = seen.get(key);
    if (!bucket) {
      seen.set(key, [state]);
      return true;
    }
    if (!equal) return false;
    if (bucket.some((s) => equal(s, state))) return false;
    bucket.push(state);
    return true;
  };
  const stack: { call: Entry; state: S; set: Bitset }[] = [];
  let state = model.init();
  let set = Bitset.of(history.length);
  let placed = 0;
  let best: { ops: number[]; blocked: number[] } = { ops: [], blocked: [] };
  let entry = sentinel.next;
  let steps = 0;
  while (placed < mustPlace) {
    if (++steps % 4096 === 0 && Date.now() > deadline) return { result: 'unknown' };
    if (!entry) break; // unreachable: an unplaced finite operation's return entry stops the walk
    if (entry.kind === 'call') {
      const op = history[entry.op]!;
      const next = model.step(state, op.input, op.output);
      const nextSet = next.ok ? set.with(entry.op) : set;
      if (next.ok && remember(nextSet, next.state)) {
        stack.push({ call: entry, state, set });
        state = next.state;
        set = nextSet;
        if (entry.match) placed++;
        lift(entry);
        entry = sentinel.next;
      } else {
        entry = entry.next;
      }
    } else {
      if (stack.length >= best.ops.length) best = { ops: stack.map((s) => s.call.op), blocked: pending(sentinel, entry) };
      const top = stack.pop();
      if (!top) return { result: 'illegal', info: explain(model, history, best) };
      state = top.state;
      set = top.set;
      if (top.call.match) placed--;
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return { result: 'ok' };
}

/** The operations that were candidates when the search met `ret`: called before it, unplaced. */
function pending(sentinel: Entry, ret: Entry): number[] {
  const ops: number[] = [];
  for (let e = sentinel.next; e; e = e.next) {
    if (e.kind === 'call') ops.push(e.op);
    if (e === ret) break;
  }
  return ops;
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  best: { ops: number[]; blocked: number[] },
): string {
  const describe = model.describe ?? ((input: I, output: O) => `${JSON.stringify(input)} -> ${JSON.stringify(output)}`);
  const show = (i: number) => {
    const op = history[i]!;
    const end = op.return === Infinity ? '?' : String(op.return);
    return `client ${op.clientId} [${op.call}, ${end}] ${describe(op.input, op.output)}`;
  };
  const prefix = best.ops.map(show).join('\n  ') || '(none)';
  const blocked = best.blocked.map(show).join('\n  ');
  return `not linearizable; longest linearizable prefix:\n  ${prefix}\nafter which none of these could be placed next:\n  ${blocked}`;
}

export type KvInput =
  | { kind: 'put'; key: string; value: string }
  | { kind: 'get'; key: string }
  | { kind: 'cas'; key: string; from: string; to: string };
/** put: undefined; get: the value read, undefined for a missing key; cas: whether it swapped. */
export type KvOutput = string | boolean | undefined;
/** One key's value; the KV model is always checked per key. */
export type KvValue = string | undefined;
export type KvOperation = Operation<KvInput, KvOutput>;

export const kvModel: Model<KvValue, KvInput, KvOutput> = {
  init: () => undefined,
  step(state, input, output) {
    switch (input.kind) {
      case 'put':
        return { ok: true, state: input.value };
      case 'get':
        return { ok: output === state, state };
      case 'cas': {
        const swapped = state === input.from;
        return { ok: output === swapped, state: swapped ? input.to : state };
      }
    }
  },
  equal: (a, b) => a === b,
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of history) {
      const ops = byKey.get(op.input.key) ?? [];
      ops.push(op);
      byKey.set(op.input.key, ops);
    }
    return [...byKey.values()];
  },
  describe(input, output) {
    switch (input.kind) {
      case 'put':
        return `put(${input.key}, ${JSON.stringify(input.value)})`;
      case 'get':
        return `get(${input.key}) -> ${JSON.stringify(output) ?? 'missing'}`;
      case 'cas':
        return `cas(${input.key}, ${JSON.stringify(input.from)} -> ${JSON.stringify(input.to)}) -> ${output}`;
    }
  },
};

export interface KvEvent {
  clientId: number;
  kind: 'put' | 'get' | 'cas';
  key: string;
  value?: string;
  from?: string;
  to?: string;
  output?: string | boolean;
  call: number;
  return: number;
}

/**
 * Turns recorded client events into a history for `kvModel`. An event with an unknown outcome
 * (return Infinity) is kept for puts and cas (a cas that took effect swapped; one that did not
 * had no effect, which the checker allows) and dropped for gets, which change nothing.
 */
export function kvHistoryFromEvents(events: KvEvent[]): KvOperation[] {
  const history: KvOperation[] = [];
  for (const [i, e] of events.entries()) {
    const where = `event ${i} (client ${e.clientId}, ${e.kind} ${e.key})`;
    if (typeof e.key !== 'string') throw new TypeError(`${where}: key must be a string`);
    const unknown = e.return === Infinity;
    const base = { clientId: e.clientId, call: e.call, return: e.return };
    switch (e.kind) {
      case 'put':
        if (typeof e.value !== 'string') throw new TypeError(`${where}: put needs a string value`);
        history.push({ ...base, input: { kind: 'put', key: e.key, value: e.value }, output: undefined });
        break;
      case 'get':
        if (unknown) break;
        if (e.output !== undefined && typeof e.output !== 'string') {
          throw new TypeError(`${where}: get output must be a string or undefined`);
        }
        history.push({ ...base, input: { kind: 'get', key: e.key }, output: e.output });
        break;
      case 'cas':
        if (typeof e.from !== 'string' || typeof e.to !== 'string') {
          throw new TypeError(`${where}: cas needs string from and to`);
        }
        if (!unknown && typeof e.output !== 'boolean') throw new TypeError(`${where}: cas output must be a boolean`);
        history.push({ ...base, input: { kind: 'cas', key: e.key, from: e.from, to: e.to }, output: unknown ? true : e.output });
        break;
      default:
        throw new TypeError(`${where}: unknown kind ${JSON.stringify((e as { kind: unknown }).kind)}`);
    }
  }
  return history;
}
