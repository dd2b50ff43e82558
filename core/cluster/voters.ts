// Which consensus membership change the leader makes next, one at a time: admit live nodes as
// non-voters, replace a voter that has been gone too long by a healthy non-voter, and promote
// non-voters until the cluster has `consensus.voters` of them. Pure: the caller brings the clock.

import type { Member } from '../contracts/consensus.js';

export interface Candidate {
  id: string;
  /** Its consensus address as it announces it. */
  address: string;
  healthy: boolean;
  /** When gossip last saw it healthy (ms); a member never seen counts as gone since the leader's start. */
  lastHealthy: number;
}

export interface VoterInput {
  leader: string;
  /** The consensus configuration now. */
  members: Member[];
  /** Nodes the gossip view knows, this one included, that belong to this cluster or to none yet. */
  nodes: Candidate[];
  /** consensus.voters */
  voters: number;
  /** A voter gone this long gives its vote to a healthy non-voter. */
  replaceAfterMs: number;
  now: number;
}

export type MembershipChange =
  | { type: 'set'; member: Member; reason: 'admit' | 'address' | 'promote' | 'demote' }
  | undefined;

const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);

export function nextMembershipChange(input: VoterInput): MembershipChange {
  const { members, voters, leader, now } = input;
  const nodes = new Map(input.nodes.map((node) => [node.id, node]));
  const inConf = new Map(members.map((m) => [m.id, m]));

  for (const node of [...nodes.values()].sort(byId)) {
    if (!node.healthy) continue;
    const member = inConf.get(node.id);
    if (!member) return { type: 'set', member: { id: node.id, address: node.address, voter: false }, reason: 'admit' };
    if (member.address !== node.address) return { type: 'set', member: { ...member, address: node.address }, reason: 'address' };
  }

  const healthy = (m: Member) => m.id === leader || nodes.get(m.id)?.healthy === true;
  const gone = (m: Member) => !healthy(m) && now - (nodes.get(m.id)?.lastHealthy ?? 0) >= input.replaceAfterMs;
  const standby = members.filter((m) => !m.voter && healthy(m)).sort(byId);
  const voting = members.filter((m) => m.voter);

  const lost = voting.filter(gone).sort(byId)[0];
  if (lost && standby.length > 0) return { type: 'set', member: { ...lost, voter: false }, reason: 'demote' };
  if (voting.length < voters && standby[0]) return { type: 'set', member: { ...standby[0], voter: true }, reason: 'promote' };
  return undefined;
}

/**
 * Why taking `id`'s vote now would leave the remaining voters without a healthy majority (and the
 * cluster without a leader), as etcd's strict reconfiguration check refuses; undefined when it is safe.
 */
export function removalLosesQuorum(members: Member[], id: string, healthy: (id: string) => boolean): string | undefined {
  if (!members.some((m) => m.id === id && m.voter)) return undefined;
  const remaining = members.filter((m) => m.voter && m.id !== id);
  const quorum = Math.floor(remaining.length / 2) + 1;
  const live = remaining.filter((m) => healthy(m.id)).length;
  if (remaining.length > 0 && live >= quorum) return undefined;
  return `removing ${id} would leave ${remaining.length} voter(s) with ${live} healthy, and a quorum needs ${quorum}: bring the unhealthy voters back first`;
}
