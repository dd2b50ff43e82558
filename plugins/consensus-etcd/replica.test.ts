// The pure parts of the etcd backend: log entries from etcd are validated, snapshots round-trip,
// and the replica applies entries, membership and restores deterministically.

import t from 'tap';
import { encodeEntry, parseEntry } from './log-entry.js';
import { Replica } from './replica.js';
import { encodeSnapshot, parseSnapshot } from './stored-snapshot.js';
import { listMachine } from './testing.js';

t.test('entries round-trip and anything else is named as invalid', async (t) => {
  const command = { id: 'r1', op: 'command', command: { type: 'add', payload: { x: 1 } } } as const;
  t.same(parseEntry(encodeEntry(command)), command);
  const member = { id: 'r2', op: 'member-set', member: { id: 'n1', address: '10.0.0.1:7000', voter: false } } as const;
  t.same(parseEntry(Buffer.from(encodeEntry(member))), member);
  const bad: [string, RegExp][] = [
    ['not json', /not JSON/],
    ['{"v":2,"id":"a","op":"command","command":{"type":"t"}}', /version 1/],
    ['{"v":1,"op":"command","command":{"type":"t"}}', /id/],
    ['{"v":1,"id":"a","op":"command","command":{"type":""}}', /command\.type/],
    ['{"v":1,"id":"a","op":"member-set","member":{"id":"n","address":"x","voter":"yes"}}', /member is not/],
    ['{"v":1,"id":"a","op":"member-remove"}', /memberId/],
    ['{"v":1,"id":"a","op":"drop-table"}', /unknown op "drop-table"/],
    ['[1,2]', /version 1/],
  ];
  for (const [raw, problem] of bad) {
    const parsed = parseEntry(raw);
    t.ok('invalid' in parsed && problem.test(parsed.invalid), `${raw} -> ${JSON.stringify(parsed)}`);
  }
});

t.test('the replica applies commands and membership at their revisions, and restores a snapshot', async (t) => {
  const replica = new Replica(listMachine);
  t.same(replica.apply({ id: '1', op: 'command', command: { type: 'add', payload: 'a' } }, 4), { ok: true, result: 1 });
  replica.apply({ id: '2', op: 'member-set', member: { id: 'n2', address: 'b', voter: true } }, 6);
  replica.apply({ id: '3', op: 'member-set', member: { id: 'n1', address: 'a', voter: true } }, 7);
  replica.apply({ id: '4', op: 'member-set', member: { id: 'n2', address: 'b2', voter: false } }, 8);
  replica.skip(9);
  t.same(replica.apply({ id: '5', op: 'command', command: { type: 'add', payload: 'b' } }, 11), { ok: true, result: 2 });
  t.equal(replica.index, 11);
  t.same(replica.members, [
    { id: 'n1', address: 'a', voter: true },
    { id: 'n2', address: 'b2', voter: false },
  ], 'members sorted by id, a second set changes the first');
  replica.apply({ id: '6', op: 'member-remove', memberId: 'n1' }, 12);
  t.same(replica.members.map((m) => m.id), ['n2']);

  const stored = parseSnapshot(encodeSnapshot(replica.snapshot()));
  t.notOk('invalid' in stored, 'the snapshot parses back');
  const other = new Replica(listMachine);
  other.restore(stored as Exclude<typeof stored, { invalid: string }>);
  t.same({ state: other.state, index: other.index, members: other.members }, { state: ['a', 'b'], index: 12, members: replica.members });
  t.match(parseSnapshot('{"v":1,"revision":0,"members":[],"data":""}'), { invalid: /revision/ });
});

t.test('a state machine that throws changes nothing and the outcome says why', async (t) => {
  const replica = new Replica({
    ...listMachine,
    apply: () => {
      throw new Error('boom');
    },
  });
  const outcome = replica.apply({ id: '1', op: 'command', command: { type: 'add', payload: 'a' } }, 3);
  t.match(outcome, { ok: false, error: { message: 'boom' } });
  t.same(replica.state, []);
  t.equal(replica.index, 3, 'the revision is still taken');
});
