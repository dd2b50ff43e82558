// The cluster's model lists: each name once at its newest copy, loaded models with their node.

import t from 'tap';
import { announcement, heldModel, DIGEST_A, DIGEST_B } from '../../cluster/test-support.js';
import type { AnnouncedLoadedModel, Member } from '../../cluster/types.js';
import { clusterModels, clusterRunning } from './model-lists.js';

function member(id: string, fields: Partial<Member> = {}): Member {
  return { ...announcement(id), healthy: true, lastSeen: 0, self: false, ...fields };
}

function loaded(name: string, expiresAt: string): AnnouncedLoadedModel {
  const { details, digest, size } = heldModel(name);
  return { name, model: name, size, digest, details, expires_at: expiresAt, size_vram: size, context_length: 4096 };
}

t.test('each name once across nodes, newest first; a name with two digests shows the newer copy', async (t) => {
  const own = [heldModel('mine:latest', DIGEST_A, '2025-03-01T00:00:00Z'), heldModel('shared:latest', DIGEST_A, '2025-01-01T00:00:00Z')];
  const members = [
    member('self', { self: true, models: own }),
    member('b', { models: [heldModel('Shared:latest', DIGEST_B, '2025-02-01T00:00:00Z'), heldModel('only-b:latest', DIGEST_A, '2025-04-01T00:00:00Z')] }),
    member('c', { models: [heldModel('shared:latest', DIGEST_A, '2025-01-01T00:00:00Z')] }),
  ];
  const listed = clusterModels(own, members);
  t.same(listed.map((m) => [m.name, m.digest]), [
    ['only-b:latest', DIGEST_A],
    ['mine:latest', DIGEST_A],
    ['Shared:latest', DIGEST_B],
  ]);
});

t.test("this node's own listing wins a tie and stands in for its announcement; unhealthy and name-refused members do not count", async (t) => {
  const own = [heldModel('tiny:latest', DIGEST_A, '2025-01-01T00:00:00Z')];
  const members = [
    member('self', { self: true, models: [] }),
    member('b', { models: [heldModel('tiny:latest', DIGEST_B, '2025-01-01T00:00:00Z')] }),
    member('c', { healthy: false, models: [heldModel('gone:latest')] }),
    member('d', { nameTakenBy: 'b', models: [heldModel('rival:latest')] }),
  ];
  t.same(clusterModels(own, members).map((m) => [m.name, m.digest]), [['tiny:latest', DIGEST_A]]);
});

t.test('every loaded model on every healthy node with its node, the one expiring last first', async (t) => {
  const own = [loaded('tiny:latest', '2025-01-01T00:05:00Z')];
  const members = [
    member('self', { self: true }),
    member('b', { loaded: [loaded('tiny:latest', '2025-01-01T00:09:00Z'), loaded('big:latest', '2025-01-01T00:01:00Z')] }),
    member('c', { healthy: false, loaded: [loaded('tiny:latest', '2025-01-01T00:10:00Z')] }),
  ];
  t.same(clusterRunning(own, 'node-self', members).map((m) => [m.name, m.node, m.expires_at]), [
    ['tiny:latest', 'node-b', '2025-01-01T00:09:00Z'],
    ['tiny:latest', 'node-self', '2025-01-01T00:05:00Z'],
    ['big:latest', 'node-b', '2025-01-01T00:01:00Z'],
  ]);
});
