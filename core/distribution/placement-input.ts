// What the planner is fed, read from the agreed cluster facts and the gossiped members, and which
// of its placements differ from the agreed ones. Pure: the placement loop does the reading.

import type { ClusterState } from '../cluster/state-machine.js';
import type { Member } from '../cluster/types.js';
import type { Placements, PlannerNode } from './planner.js';

/** Digests compare without their algorithm prefix: gossip carries bare hex, records may not. */
const bare = (digest: string) => digest.replace(/^sha256:/, '');

export const sameDigest = (a: string, b: string): boolean => bare(a) === bare(b);

/**
 * The members the planner may place on: admitted to the cluster facts (a placement names only
 * those), not refused for a taken name, and healthy, or silent for less than `replaceAfterMs`: a
 * node that restarts or drops off for a moment keeps its placements rather than have its models
 * copied elsewhere at once. A node without GPUs has no VRAM bound.
 */
export function plannerNodes(members: readonly Member[], admitted: ClusterState['members'], now: number, replaceAfterMs: number): PlannerNode[] {
  return members
    .filter((m) => (m.healthy || now - m.lastSeen < replaceAfterMs) && !m.leaving && !m.nameTakenBy && admitted[m.id] !== undefined)
    .map((m) => ({
      id: m.id,
      drained: m.drained,
      ...(m.healthy ? {} : { down: true }),
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
      if (member.models.some((m) => m.name.toLowerCase() === wanted && sameDigest(m.digest, record.digest))) holders.add(member.id);
    }
    present[record.name] = [...holders].sort();
  }
  return present;
}

export interface HeldModel {
  digest: string;
  size: number;
}

/**
 * Each model the healthy admitted members hold, by name: its newest digest (by modified_at, then
 * digest) and that copy's size. Drained members count: their copies are sources still. A member
 * not yet admitted is no place to plan on, so a model made there waits for its admission rather
 * than be placed, and copied, elsewhere.
 */
export function heldModels(members: readonly Member[], admitted: ClusterState['members']): Map<string, HeldModel> {
  const newest = new Map<string, HeldModel & { at: number }>();
  for (const member of members) {
    if (!member.healthy || member.nameTakenBy || admitted[member.id] === undefined) continue;
    for (const model of member.models) {
      const known = newest.get(model.name);
      const at = Date.parse(model.modified_at);
      if (!known || at > known.at || (at === known.at && model.digest > known.digest)) newest.set(model.name, { digest: model.digest, size: model.size, at });
    }
  }
  return new Map([...newest].map(([name, { digest, size }]) => [name, { digest, size }]));
}

/** Held models the agreed facts lack, or know under another digest: what the leader registers. */
export function unregisteredModels(state: ClusterState, held: ReadonlyMap<string, HeldModel>): [string, string][] {
  return [...held]
    .filter(([name, { digest }]) => state.models[name] === undefined || !sameDigest(state.models[name]!.digest, digest))
    .map(([name, { digest }]): [string, string] => [name, digest])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The placements of `plan` that differ from the agreed ones, by model name. */
export function changedPlacements(agreed: ClusterState['placements'], plan: Placements): [string, string[]][] {
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((id, i) => id === b[i]);
  return Object.entries(plan)
    .filter(([model, nodes]) => !same([...(agreed[model] ?? [])].sort(), nodes))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
