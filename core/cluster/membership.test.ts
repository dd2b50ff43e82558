import t, { type Test } from 'tap';
import { FORGET_AFTER_TIMEOUTS, Membership, type Observation } from './membership.js';
import { DIGEST_A, DIGEST_B, announcement, heldModel } from './test-support.js';
import type { NodeAnnouncement } from './types.js';

const TIMEOUT = 2000;
const SELF = announcement('self', { models: [], joinedAt: 500 });

type Step =
  | { observe: NodeAnnouncement; from?: string; at?: number; gives: Observation }
  | { disconnect: string; gives: boolean }
  | { expire: number; gives: boolean }
  | { self: NodeAnnouncement; gives: boolean };

interface Case {
  rule: string;
  steps: Step[];
  /** Health of every member by id, this node included. */
  healthy?: Record<string, boolean>;
  check?: (m: Membership, t: Test) => void;
}

const a = (fields: Partial<NodeAnnouncement> = {}) => announcement('a', fields);
const b = (fields: Partial<NodeAnnouncement> = {}) => announcement('b', fields);

const cases: Case[] = [
  {
    rule: 'a node heard for the first time joins healthy',
    steps: [{ observe: a(), gives: 'joined' }],
    healthy: { self: true, a: true },
  },
  {
    rule: 'an older seq of the same run is ignored',
    steps: [
      { observe: a({ seq: 5 }), gives: 'joined' },
      { observe: a({ seq: 4, drained: true }), gives: 'stale' },
    ],
    check: (m, t) => t.equal(m.member('a')?.drained, false),
  },
  {
    rule: 'the same seq twice is taken once',
    steps: [
      { observe: a({ seq: 5 }), gives: 'joined' },
      { observe: a({ seq: 5, drained: true }), gives: 'stale' },
    ],
    check: (m, t) => t.equal(m.member('a')?.drained, false),
  },
  {
    rule: 'a newer seq replaces; a change the routing reads is a change, load alone a refresh',
    steps: [
      { observe: a({ seq: 1 }), gives: 'joined' },
      { observe: a({ seq: 2, load: { inFlight: 3, queued: 0, ttftMs: 5, tokensPerSecond: 9, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 } }), gives: 'refreshed' },
      { observe: a({ seq: 3, drained: true }), gives: 'changed' },
      { observe: a({ seq: 4, drained: true, models: [] }), gives: 'changed' },
      { observe: a({ seq: 5, drained: true, models: [], loaded: [{ ...heldModel('x:latest'), expires_at: '2025-01-01T00:00:00Z', size_vram: 0, context_length: 1 }] }), gives: 'changed' },
    ],
    check: (m, t) => t.match(m.member('a'), { seq: 5, drained: true, models: [], loaded: [{ name: 'x:latest' }] }),
  },
  {
    rule: 'a new run of a node (later joinedAt) replaces the old one whatever its seq',
    steps: [
      { observe: a({ seq: 90, name: 'old' }), gives: 'joined' },
      { observe: a({ seq: 1, joinedAt: 2000, name: 'new' }), gives: 'changed' },
      { observe: a({ seq: 91, name: 'old' }), gives: 'stale' },
    ],
    check: (m, t) => t.match(m.member('a'), { name: 'new', joinedAt: 2000, seq: 1 }),
  },
  {
    rule: 'a message whose peer id is not its sender is dropped',
    steps: [{ observe: a(), from: 'peer-b', gives: 'spoofed' }],
    check: (m, t) => t.equal(m.members().length, 1),
  },
  {
    rule: "another peer claiming this node's id is dropped",
    steps: [{ observe: announcement('self', { peerId: 'peer-x' }), from: 'peer-x', gives: 'own-id' }],
    check: (m, t) => t.equal(m.self().peerId, 'peer-self'),
  },
  {
    rule: 'a peer that speaks for a new node id no longer speaks for its old one',
    steps: [
      { observe: a(), gives: 'joined' },
      { observe: announcement('a2', { peerId: 'peer-a' }), from: 'peer-a', gives: 'joined' },
    ],
    healthy: { self: true, a2: true },
  },
  {
    rule: 'a disconnected peer is unhealthy at once, and healthy again when it speaks again',
    steps: [
      { observe: a({ seq: 1 }), gives: 'joined' },
      { disconnect: 'peer-a', gives: true },
      { disconnect: 'peer-a', gives: false },
      { disconnect: 'peer-unknown', gives: false },
      { observe: a({ seq: 1 }), gives: 'stale' },
      { observe: a({ seq: 2 }), at: 100, gives: 'changed' },
    ],
    healthy: { self: true, a: true },
  },
  {
    rule: 'a disconnected peer stays out of the pool until it speaks',
    steps: [
      { observe: a(), gives: 'joined' },
      { disconnect: 'peer-a', gives: true },
    ],
    healthy: { self: true, a: false },
    check: (m, t) => t.same(m.holders('tiny:latest').map((x) => x.id), []),
  },
  {
    rule: 'a member silent for failure_timeout turns unhealthy then, not before',
    steps: [
      { observe: a(), at: 0, gives: 'joined' },
      { expire: TIMEOUT - 1, gives: false },
      { expire: TIMEOUT, gives: true },
      { expire: TIMEOUT + 250, gives: false },
    ],
    healthy: { self: true, a: false },
  },
  {
    rule: 'a silent member that speaks again is healthy again',
    steps: [
      { observe: a({ seq: 1 }), at: 0, gives: 'joined' },
      { expire: TIMEOUT, gives: true },
      { observe: a({ seq: 2 }), at: TIMEOUT + 10, gives: 'changed' },
      { expire: TIMEOUT + 20, gives: false },
    ],
    healthy: { self: true, a: true },
  },
  {
    rule: 'a goodbye takes a member out at once',
    steps: [
      { observe: a({ seq: 1 }), gives: 'joined' },
      { observe: a({ seq: 2, leaving: true }), gives: 'changed' },
    ],
    healthy: { self: true, a: false },
    check: (m, t) => {
      t.equal(m.member('a')?.leaving, true);
      t.same(m.holders('tiny:latest'), []);
    },
  },
  {
    rule: `an unhealthy member is forgotten ${FORGET_AFTER_TIMEOUTS} failure timeouts after it was last heard`,
    steps: [
      { observe: a(), at: 0, gives: 'joined' },
      { disconnect: 'peer-a', gives: true },
      { expire: FORGET_AFTER_TIMEOUTS * TIMEOUT - 1, gives: false },
      { expire: FORGET_AFTER_TIMEOUTS * TIMEOUT, gives: true },
    ],
    healthy: { self: true },
  },
  {
    rule: 'of two members with one name the earlier joinedAt keeps it; the other is flagged and out of the pool',
    steps: [
      { observe: a({ name: 'gpu-1', joinedAt: 2000 }), gives: 'joined' },
      { observe: b({ name: 'gpu-1', joinedAt: 1000 }), gives: 'joined' },
    ],
    check: (m, t) => {
      t.equal(m.member('a')?.nameTakenBy, 'b');
      t.equal(m.member('b')?.nameTakenBy, undefined);
      t.equal(m.member('gpu-1')?.id, 'b', 'the name finds its owner');
      t.same(m.holders('tiny:latest').map((x) => x.id), ['b']);
    },
  },
  {
    rule: 'a name tie on joinedAt goes to the smaller id',
    steps: [
      { observe: b({ name: 'gpu-1' }), gives: 'joined' },
      { observe: a({ name: 'gpu-1' }), gives: 'joined' },
    ],
    check: (m, t) => {
      t.equal(m.member('b')?.nameTakenBy, 'a');
      t.equal(m.member('a')?.nameTakenBy, undefined);
    },
  },
  {
    rule: 'a name tie between this node and a member with a smaller id goes to the member',
    steps: [{ observe: a({ name: SELF.name, joinedAt: SELF.joinedAt }), gives: 'joined' }],
    check: (m, t) => {
      t.equal(m.self().nameTakenBy, 'a');
      t.equal(m.member('a')?.nameTakenBy, undefined);
    },
  },
  {
    rule: 'this node is flagged when an earlier member holds its name',
    steps: [{ observe: a({ name: SELF.name, joinedAt: SELF.joinedAt - 1 }), gives: 'joined' }],
    check: (m, t) => {
      t.equal(m.self().nameTakenBy, 'a');
      t.equal(m.member('a')?.nameTakenBy, undefined);
    },
  },
  {
    rule: 'a later member with this node’s name is the flagged one',
    steps: [{ observe: a({ name: SELF.name, joinedAt: SELF.joinedAt + 1 }), gives: 'joined' }],
    check: (m, t) => {
      t.equal(m.self().nameTakenBy, undefined);
      t.equal(m.member('a')?.nameTakenBy, 'self');
    },
  },
  {
    rule: 'an unhealthy member holds no name',
    steps: [
      { observe: b({ name: 'gpu-1', joinedAt: 1000 }), gives: 'joined' },
      { observe: a({ name: 'gpu-1', joinedAt: 2000 }), gives: 'joined' },
      { disconnect: 'peer-b', gives: true },
    ],
    check: (m, t) => {
      t.equal(m.member('a')?.nameTakenBy, undefined);
      t.same(m.holders('tiny:latest').map((x) => x.id), ['a']);
    },
  },
  {
    rule: 'holders: healthy, undrained members holding the name, this node included, matched without case',
    steps: [
      { self: { ...SELF, models: [heldModel('tiny:latest')] }, gives: true },
      { observe: a(), gives: 'joined' },
      { observe: b({ drained: true }), gives: 'joined' },
      { observe: announcement('c', { models: [heldModel('other:latest')] }), gives: 'joined' },
    ],
    check: (m, t) => {
      t.same(m.holders('Tiny:Latest').map((x) => x.id), ['self', 'a']);
      t.same(m.holders('other:latest').map((x) => x.id), ['c']);
      t.same(m.holders('absent:latest'), []);
    },
  },
  {
    rule: 'holders: only the newest digest of a name (by modified_at), and the conflict is reported',
    steps: [
      { self: { ...SELF, models: [heldModel('tiny:latest', DIGEST_A, '2025-01-01T00:00:00Z')] }, gives: true },
      { observe: a({ models: [heldModel('tiny:latest', DIGEST_B, '2025-02-01T00:00:00+01:00')] }), gives: 'joined' },
      { observe: b({ models: [heldModel('tiny:latest', DIGEST_B, '2025-01-15T00:00:00Z')] }), gives: 'joined' },
    ],
    check: (m, t) => {
      t.same(m.holders('tiny:latest').map((x) => x.id), ['a', 'b']);
      t.same(m.conflicts(), [
        {
          name: 'tiny:latest',
          digests: [
            { digest: DIGEST_B, modifiedAt: '2025-02-01T00:00:00+01:00', nodes: ['a', 'b'] },
            { digest: DIGEST_A, modifiedAt: '2025-01-01T00:00:00Z', nodes: ['self'] },
          ],
        },
      ]);
    },
  },
  {
    rule: 'holders: the newest digest among the members that may run it, so a drained newest holder does not empty the pool',
    steps: [
      { observe: a({ models: [heldModel('tiny:latest', DIGEST_B, '2025-02-01T00:00:00Z')], drained: true }), gives: 'joined' },
      { observe: b({ models: [heldModel('tiny:latest', DIGEST_A, '2025-01-01T00:00:00Z')] }), gives: 'joined' },
    ],
    check: (m, t) => t.same(m.holders('tiny:latest').map((x) => x.id), ['b']),
  },
  {
    rule: 'holders: a modified_at tie goes to the greater digest',
    steps: [
      { observe: a({ models: [heldModel('tiny:latest', DIGEST_A)] }), gives: 'joined' },
      { observe: b({ models: [heldModel('tiny:latest', DIGEST_B)] }), gives: 'joined' },
    ],
    check: (m, t) => t.same(m.holders('tiny:latest').map((x) => x.id), ['b']),
  },
  {
    rule: 'conflicts: one digest everywhere is no conflict; an unhealthy member does not count',
    steps: [
      { observe: a(), gives: 'joined' },
      { observe: b({ models: [heldModel('tiny:latest', DIGEST_B)] }), gives: 'joined' },
      { disconnect: 'peer-b', gives: true },
    ],
    check: (m, t) => t.same(m.conflicts(), []),
  },
  {
    rule: "this node's own announcement changes the view only when something the routing reads changed",
    steps: [
      { self: { ...SELF, seq: 2, load: { inFlight: 1, queued: 0, ttftMs: 1, tokensPerSecond: 1, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 } }, gives: false },
      { self: { ...SELF, seq: 3, drained: true }, gives: true },
      { self: { ...SELF, seq: 4, drained: true }, gives: false },
    ],
    check: (m, t) => t.match(m.self(), { id: 'self', healthy: true, self: true, drained: true, seq: 4 }),
  },
];

for (const c of cases) {
  t.test(c.rule, async (t) => {
    const m = new Membership(SELF, 0);
    for (const [i, step] of c.steps.entries()) {
      if ('observe' in step) t.equal(m.observe(step.observe, step.from ?? step.observe.peerId, step.at ?? 0), step.gives, `step ${i}: observe`);
      else if ('disconnect' in step) t.equal(m.peerDisconnected(step.disconnect), step.gives, `step ${i}: disconnect`);
      else if ('expire' in step) t.equal(m.expire(step.expire, TIMEOUT), step.gives, `step ${i}: expire at ${step.expire}`);
      else t.equal(m.setSelf(step.self, 0), step.gives, `step ${i}: self`);
    }
    if (c.healthy) t.same(Object.fromEntries(m.members().map((x) => [x.id, x.healthy])), c.healthy, 'health of every member');
    c.check?.(m, t);
  });
}

t.test('members lists this node first, then the others by id; a lookup by id beats one by name', async (t) => {
  const m = new Membership(SELF, 0);
  m.observe(b(), 'peer-b', 0);
  m.observe(announcement('node-b', { peerId: 'peer-x', name: 'x' }), 'peer-x', 0);
  m.observe(a(), 'peer-a', 0);
  t.same(m.members().map((x) => x.id), ['self', 'a', 'b', 'node-b']);
  t.equal(m.member('node-b')?.id, 'node-b', 'the id node-b, not the member named node-b');
  t.equal(m.member('node-a')?.id, 'a');
  t.equal(m.member('nobody'), undefined);
});
