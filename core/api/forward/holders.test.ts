// Holders for the routes that act on every holder, and holders that take nothing now.

import t from 'tap';
import { announcement, heldModel } from '../../cluster/test-support.js';
import type { Member } from '../../cluster/types.js';
import { holdersUnavailable } from './attempts.js';
import { membersHolding, unavailableHolders } from './holders.js';

const member = (id: string, fields: Partial<Member> = {}): Member => ({ ...announcement(id), healthy: true, lastSeen: 0, self: false, ...fields });

const members = [
  member('a', { self: true, models: [] }),
  member('b', { drained: true }),
  member('c', { healthy: false }),
  member('d', { nameTakenBy: 'b' }),
  member('e', { models: [heldModel('Tiny:latest')] }),
  member('f', { models: [heldModel('other:latest')] }),
];

t.test('every healthy member listing the name, drained ones too, any case', async (t) => {
  t.same(membersHolding(members, 'tiny:latest').map((m) => m.id), ['b', 'e']);
});

t.test('holders that cannot take a request, with why', async (t) => {
  t.same(unavailableHolders(members, 'TINY:latest'), [
    { node: 'node-b', reason: 'drained' },
    { node: 'node-c', reason: 'unreachable' },
    { node: 'node-d', reason: 'its name is taken' },
  ]);
  t.same(unavailableHolders(members, 'nowhere:latest'), []);
  const error = holdersUnavailable('tiny:latest', unavailableHolders(members, 'tiny:latest'));
  t.equal(error.status, 503);
  t.equal(error.message, "model 'tiny:latest' is held only by nodes that cannot take requests now: node-b (drained), node-c (unreachable), node-d (its name is taken)");
});
