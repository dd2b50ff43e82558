// Which members hold a model, for the routes that act on holders rather than run the model (any
// healthy member listing the name, drained or not, whatever its digest), and which holders cannot
// take a request now. Pure over the view.

import type { Member } from '../../cluster/types.js';

const lists = (member: Member, wanted: string) => member.models.some((model) => model.name.toLowerCase() === wanted);

/** Healthy members (this node included) listing `name`; a member refused for its taken name is none. */
export function membersHolding(members: readonly Member[], name: string): Member[] {
  const wanted = name.toLowerCase();
  return members.filter((m) => m.healthy && !m.nameTakenBy && lists(m, wanted));
}

/** Members listing `name` that take nothing now, each with why: down, drained, or refused for its name. */
export function unavailableHolders(members: readonly Member[], name: string): { node: string; reason: string }[] {
  const wanted = name.toLowerCase();
  return members.flatMap((m) => {
    if (!lists(m, wanted)) return [];
    const reason = !m.healthy ? 'unreachable' : m.nameTakenBy ? 'its name is taken' : m.drained ? 'drained' : undefined;
    return reason ? [{ node: m.name, reason }] : [];
  });
}
