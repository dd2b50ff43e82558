// The cluster's models and loaded models as one list each: this node's own listing beside what the
// healthy members announce. Pure; /api/tags, /v1/models and /api/ps answer with these.

import type { AnnouncedLoadedModel, AnnouncedModel, Member } from '../../cluster/types.js';

/** The members whose announcements count: healthy others, none refused for a taken name. */
function peers(members: readonly Member[]): Member[] {
  return members.filter((m) => !m.self && m.healthy && !m.nameTakenBy);
}

/**
 * Each name once, newest first as /api/tags sorts; a name held with several digests shows its
 * newest copy (the one requests are routed to), this node's own on a tie.
 */
export function clusterModels(own: readonly AnnouncedModel[], members: readonly Member[]): AnnouncedModel[] {
  const byName = new Map<string, AnnouncedModel>();
  for (const model of [...own, ...peers(members).flatMap((m) => m.models)]) {
    const key = model.name.toLowerCase();
    const held = byName.get(key);
    if (!held || Date.parse(model.modified_at) > Date.parse(held.modified_at)) byName.set(key, model);
  }
  return [...byName.values()].sort((a, b) => Date.parse(b.modified_at) - Date.parse(a.modified_at));
}

export type PlacedModel = AnnouncedLoadedModel & { node: string };

/** Every loaded model on every healthy node, with the node's name, the one expiring last first. */
export function clusterRunning(own: readonly AnnouncedLoadedModel[], selfName: string, members: readonly Member[]): PlacedModel[] {
  const placed = [...own.map((model) => ({ ...model, node: selfName })), ...peers(members).flatMap((m) => m.loaded.map((model) => ({ ...model, node: m.name })))];
  return placed.sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at));
}
