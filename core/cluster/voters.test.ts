import t from 'tap';
import type { Member } from '../contracts/consensus.js';
import { nextMembershipChange, removalLosesQuorum, type Candidate, type VoterInput } from './voters.js';

const NOW = 100_000;
const voter = (id: string): Member => ({ id, address: `${id}:7000`, voter: true });
const follower = (id: string): Member => ({ id, address: `${id}:7000`, voter: false });
const live = (id: string, address = `${id}:7000`): Candidate => ({ id, address, healthy: true, lastHealthy: NOW });
const dead = (id: string, for_ms: number): Candidate => ({ id, address: `${id}:7000`, healthy: false, lastHealthy: NOW - for_ms });

function input(members: Member[], nodes: Candidate[], voters = 3): VoterInput {
  return { leader: 'a', members, nodes, voters, replaceAfterMs: 4000, now: NOW };
}

const cases: { rule: string; input: VoterInput; gives: ReturnType<typeof nextMembershipChange> }[] = [
  {
    rule: 'a live node not yet in the configuration is admitted without a vote',
    input: input([voter('a')], [live('a'), live('c'), live('b')]),
    gives: { type: 'set', member: follower('b'), reason: 'admit' },
  },
  {
    rule: 'a dead node is not admitted',
    input: input([voter('a')], [live('a'), dead('b', 0)]),
    gives: undefined,
  },
  {
    rule: 'a member that moved is given its new address',
    input: input([voter('a'), follower('b')], [live('a'), live('b', 'b:7100')]),
    gives: { type: 'set', member: { id: 'b', address: 'b:7100', voter: false }, reason: 'address' },
  },
  {
    rule: 'non-voters are promoted one at a time until there are enough voters',
    input: input([voter('a'), follower('c'), follower('b')], [live('a'), live('b'), live('c')]),
    gives: { type: 'set', member: voter('b'), reason: 'promote' },
  },
  {
    rule: 'no promotion past consensus.voters',
    input: input([voter('a'), voter('b'), voter('c'), follower('d')], [live('a'), live('b'), live('c'), live('d')]),
    gives: undefined,
  },
  {
    rule: 'a dead non-voter is never promoted',
    input: input([voter('a'), follower('b')], [live('a'), dead('b', 10_000)]),
    gives: undefined,
  },
  {
    rule: 'a voter gone past replaceAfterMs loses its vote when a healthy non-voter can take it',
    input: input([voter('a'), voter('b'), voter('c'), follower('d')], [live('a'), dead('b', 4000), live('c'), live('d')]),
    gives: { type: 'set', member: follower('b'), reason: 'demote' },
  },
  {
    rule: 'a voter gone for less than replaceAfterMs keeps its vote',
    input: input([voter('a'), voter('b'), voter('c'), follower('d')], [live('a'), dead('b', 3999), live('c'), live('d')]),
    gives: undefined,
  },
  {
    rule: 'a lost voter keeps its vote while there is nobody to take it',
    input: input([voter('a'), voter('b'), voter('c')], [live('a'), dead('b', 60_000), live('c')]),
    gives: undefined,
  },
  {
    rule: 'a voter the view never saw counts as gone',
    input: input([voter('a'), voter('b'), voter('c'), follower('d')], [live('a'), live('c'), live('d')]),
    gives: { type: 'set', member: follower('b'), reason: 'demote' },
  },
  {
    rule: 'the leader counts as healthy even when the view lacks it',
    input: input([voter('a'), follower('b')], [live('b')], 1),
    gives: undefined,
  },
  {
    rule: 'with one voter wanted a lone leader stays the only voter',
    input: input([voter('a'), follower('b')], [live('a'), live('b')], 1),
    gives: undefined,
  },
];

for (const { rule, input, gives } of cases) {
  t.same(nextMembershipChange(input), gives, rule);
}

t.test('a removal that would leave no healthy majority of voters is refused', async (t) => {
  const members = [voter('a'), voter('b'), voter('c'), follower('d')];
  const healthyBut = (...down: string[]) => (id: string) => !down.includes(id);
  t.equal(removalLosesQuorum(members, 'c', healthyBut()), undefined, 'all healthy: a and b remain, both up');
  t.match(removalLosesQuorum(members, 'c', healthyBut('b')), /leave 2 voter\(s\) with 1 healthy, and a quorum needs 2/, 'b is down: a alone is no majority of two');
  t.equal(removalLosesQuorum(members, 'b', healthyBut('b')), undefined, 'removing the dead voter itself leaves a and c');
  t.equal(removalLosesQuorum(members, 'd', healthyBut('b', 'c')), undefined, 'a non-voter never counts');
  t.match(removalLosesQuorum([voter('a')], 'a', healthyBut()), /leave 0 voter/);
});
