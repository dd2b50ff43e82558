// Which members hold a model, for the routes that act on holders rather than run the model: any
// healthy member listing the name, drained or not, whatever its digest. Pure over the view.

import type { Member } from '../../cluster/types.js';

/** Healthy members (this node included) listing `name`; a member refused for its taken name is none. */
export function membersHolding(members: readonly Member[], name: string): Member[] {
  const wanted = name.toLowerCase();
  return members.filter((m) => m.healthy && !m.nameTakenBy && m.models.some((model) => model.name.toLowerCase() === wanted));
}
