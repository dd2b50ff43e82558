import t from 'tap';
import type { ClusterState } from '../cluster/state-machine.js';
import { announcement, DIGEST_A, DIGEST_B, heldModel } from '../cluster/test-support.js';
import type { Member } from '../cluster/types.js';
import { changedPlacements, heldModels, plannerNodes, presentCopies, unregisteredModels } from './placement-input.js';

const member = (id: string, fields: Partial<Member> = {}): Member => ({ ...announcement(id), healthy: true, lastSeen: 0, self: false, ...fields });
const admitted = (...ids: string[]) => Object.fromEntries(ids.map((id) => [id, { id, name: id, admittedAt: 1 }]));
const state = (fields: Partial<ClusterState>): ClusterState => ({ members: {}, models: {}, placements: {}, replicas: {}, apiKeys: {}, removed: {}, ...fields });

t.test('the planner sees healthy admitted members with their drain flag, free disk and summed free VRAM', async (t) => {
  const gpus = [
    { name: 'A', backend: 'cuda', vramTotal: 80, vramFree: 30 },
    { name: 'B', backend: 'cuda', vramTotal: 80, vramFree: 12 },
  ];
  const members = [
    member('a', { gpus, diskFree: 500 }),
    member('b', { drained: true }),
    member('c', { healthy: false }),
    member('d'),
    member('e', { nameTakenBy: 'a' }),
    member('f', { leaving: true }),
  ];
  t.same(plannerNodes(members, admitted('a', 'b', 'c', 'e', 'f'), 10_000, 5000), [
    { id: 'a', drained: false, diskFree: 500, vramFree: 42 },
    { id: 'b', drained: true },
  ]);
});

t.test('a member silent for less than replace_after stays, marked down; longer, it is gone', async (t) => {
  const members = [member('a'), member('c', { healthy: false, lastSeen: 8000 })];
  t.same(plannerNodes(members, admitted('a', 'c'), 10_000, 5000), [
    { id: 'a', drained: false },
    { id: 'c', drained: false, down: true },
  ]);
  t.same(plannerNodes(members, admitted('a', 'c'), 13_000, 5000), [{ id: 'a', drained: false }]);
});

t.test('copies present: verified reports and announcements of the agreed digest, with or without its prefix', async (t) => {
  const s = state({ models: { 'tiny:latest': { name: 'tiny:latest', digest: `sha256:${DIGEST_A}`, replicas: 1 } }, replicas: { 'tiny:latest': ['z'] } });
  const members = [member('a'), member('b', { models: [heldModel('tiny:latest', DIGEST_B)] }), member('c', { models: [heldModel('TINY:latest')] })];
  t.same(presentCopies(s, members), { 'tiny:latest': ['a', 'c', 'z'] }, 'b holds another digest');
});

t.test('only placements that differ are proposed, in name order', async (t) => {
  t.same(changedPlacements({ x: ['b', 'a'], y: ['a'] }, { y: ['a', 'c'], x: ['a', 'b'], z: [] }), [['y', ['a', 'c']]]);
  t.same(changedPlacements({ x: ['a'] }, { x: [], w: ['b'] }), [
    ['w', ['b']],
    ['x', []],
  ]);
});

t.test('held models: the newest copy of each name on healthy admitted members, drained ones included', async (t) => {
  const newer = { ...heldModel('tiny:latest', DIGEST_B, '2025-06-01T00:00:00.5+02:00'), size: 2000 };
  const members = [
    member('a'),
    member('b', { drained: true, models: [newer, heldModel('only-b:latest')] }),
    member('c', { healthy: false, models: [heldModel('gone:latest')] }),
    member('d', { models: [heldModel('not-yet:latest')] }),
  ];
  const held = heldModels(members, admitted('a', 'b', 'c'));
  t.same([...held], [
    ['tiny:latest', { digest: DIGEST_B, size: 2000 }],
    ['only-b:latest', { digest: DIGEST_A, size: 1000 }],
  ]);
  const s = state({ models: { 'tiny:latest': { name: 'tiny:latest', digest: `sha256:${DIGEST_A}`, replicas: 2 }, 'only-b:latest': { name: 'only-b:latest', digest: `sha256:${DIGEST_A}`, replicas: 1 } } });
  t.same(unregisteredModels(s, held), [['tiny:latest', DIGEST_B]], 'only the model known under an older digest');
  t.same(unregisteredModels(state({}), held), [
    ['only-b:latest', DIGEST_A],
    ['tiny:latest', DIGEST_B],
  ]);
});
