// Majority arithmetic over the voters of one configuration.

import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index that a majority of voters has matched. */
export function committedIndex(voters: NodeId[], match: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(match).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1]!;
}

export function voteResult(voters: NodeId[], votes: Map<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const need = majority(voters.length);
  if (voters.length > 0 && granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

export function hasQuorum(voters: NodeId[], active: (id: NodeId) => boolean): boolean {
  return voters.filter(active).length >= majority(voters.length);
}
