import t from 'tap';
import type { Command } from '../../core/contracts/consensus.js';
import { kvCommand, kvStateMachine, type KvState } from './kv-state-machine.js';

const run = (commands: Command[]) => {
  let state = kvStateMachine.initial();
  const results: unknown[] = [];
  commands.forEach((c, i) => {
    const next = kvStateMachine.apply(state, c, i + 1);
    state = next.state;
    results.push(next.result);
  });
  return { state, results };
};

t.test('put, cas and delete', async (t) => {
  const { state, results } = run([
    kvCommand.put('a', '1'),
    kvCommand.cas('a', '1', '2'),
    kvCommand.cas('a', '1', '3'),
    kvCommand.cas('b', null, 'x'),
    kvCommand.cas('b', null, 'y'),
    kvCommand.delete('a'),
    kvCommand.delete('a'),
  ]);
  t.same(results, [null, true, false, true, false, true, false]);
  t.same(state, { b: 'x' });
});

t.test('apply leaves the old state untouched', async (t) => {
  const before: KvState = { a: '1' };
  kvStateMachine.apply(before, kvCommand.put('a', '2'), 1);
  kvStateMachine.apply(before, kvCommand.delete('a'), 2);
  t.same(before, { a: '1' });
});

t.test('malformed commands are refused, not thrown, and change nothing', async (t) => {
  const state: KvState = { a: '1' };
  for (const [command, reason] of [
    [{ type: 'put', payload: { key: 'a' } }, /payload.value must be a string/],
    [{ type: 'put', payload: null }, /payload must be an object/],
    [{ type: 'cas', payload: { key: 'a', from: 1, to: 'x' } }, /payload.from must be a string or null/],
    [{ type: 'delete', payload: { key: 7 } }, /payload.key must be a string/],
    [{ type: 'drop', payload: { key: 'a' } }, /unknown command type "drop"/],
  ] as const) {
    const next = kvStateMachine.apply(state, command, 1);
    t.equal(next.state, state);
    t.match((next.result as { refused: string }).refused, reason);
  }
});

t.test('snapshots round-trip, are byte-identical for equal states, and are validated', async (t) => {
  const state: KvState = { b: '2', a: '1', __proto__x: 'p' };
  const bytes = kvStateMachine.snapshot(state);
  t.same(kvStateMachine.restore(bytes), state);
  t.same(Buffer.from(kvStateMachine.snapshot({ a: '1', __proto__x: 'p', b: '2' })), Buffer.from(bytes));
  t.throws(() => kvStateMachine.restore(new TextEncoder().encode('[1]')), /JSON object of string values/);
  t.throws(() => kvStateMachine.restore(new TextEncoder().encode('{"a":1}')), /value of "a" is not a string/);
  t.throws(() => kvStateMachine.restore(Uint8Array.of(0xff)), /not UTF-8 JSON/);
});
