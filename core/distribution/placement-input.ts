// What the planner is fed, read from the agreed cluster facts and the gossiped members, and which
// of its placements differ from the agreed ones. Pure: the placement loop does the reading.

import type { ClusterState } from '../cluster/state-machine.js';
import type { Member } from '../cluster/types.js';
import type { Placements, PlannerNode } from './planner.js';

/** Digests compare without their algorithm prefix: gossip carries bare hex, records may not. */
const bare = (digest: string) => digest.replace(/^sha256:/, '');

/**
 * The live members the planner may place on: healthy, admitted to the cluster facts (a placement
 * names only those) and not refused for a taken name. A node without GPUs has no VRAM bound.
 */
export function plannerNodes(members: readonly Member[], admitted: ClusterState['members']): PlannerNode[] {
  return members
    .filter((m) => m.healthy && !m.leaving && !m.nameTakenBy && admitted[m.id] !== undefined)
    .map((m) => ({
      id: m.id,
      drained: m.drained,
      ...(m.diskFree === undefined ? {} : { diskFree: m.diskFree }),
      ...(m.gpus.length === 0 ? {} : { vramFree: m.gpus.reduce((sum, gpu) => sum + gpu.vramFree, 0) }),
    }));
}

/** Model → the nodes holding its agreed digest: those that reported a verified copy, and those whose announcement lists it. */
export function presentCopies(state: ClusterState, members: readonly Member[]): Record<string, string[]> {
  const present: Record<string, string[]> = {};
  for (const record of Object.values(state.models)) {
    const holders = new Set(state.replicas[record.name] ?? []);
    const wanted = record.name.toLowerCase();
    for (const member of members) {
      if (member.models.some((m) => m.name.toLowerCase() === wanted && bare(m.digest) === bare(record.digest))) holders.add(member.id);
    }
    present[record.name] = [...holders].sort();
  }
  return present;
}

/** The size a holder announces for the model, or undefined when no member lists it. */
export function announcedSize(members: readonly Member[], name: string): number | undefined {
  const wanted = name.toLowerCase();
  for (const member of members) {
    const held = member.models.find((m) => m.name.toLowerCase() === wanted);
    if (held) return held.size;
  }
  return undefined;
}

/** The placements of `plan` that differ from the agreed ones, by model name. */
export function changedPlacements(agreed: ClusterState['placements'], plan: Placements): [string, string[]][] {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((id, i) => id === b[i]);
  return Object.entries(plan)
    .filter(([model, nodes]) => !same([...(agreed[model] ?? [])].sort(), nodes))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
