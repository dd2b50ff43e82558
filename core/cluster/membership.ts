// The membership rules as a pure state machine: announcements, disconnects and the clock go in,
// members, name owners and the nodes that may run a model come out. No I/O, no timers.

import type { DigestConflict, Member, NodeAnnouncement } from './types.js';

/**
 * An unhealthy member is forgotten this many failure timeouts after it was last heard (a minute
 * by default): long enough for an operator or a monitor polling the cluster status to see that a
 * node went down, short enough that a node taken out for good leaves the list on its own.
 */
export const FORGET_AFTER_TIMEOUTS = 30;

/**
 * What an announcement did: `joined` a member not known before, `changed` its health, drain flag,
 * name, URL, models or loaded models, `refreshed` nothing the routing reads (load, seq); it was
 * dropped as `stale` (an older message or an older run), `spoofed` (its peer id is not the sender's)
 * or as `own-id` (another peer claims this node's id).
 */
export type Observation = 'joined' | 'changed' | 'refreshed' | 'stale' | 'spoofed' | 'own-id';

/** Earlier joinedAt first; ties by the smaller id. */
function joinedBefore(a: NodeAnnouncement, b: NodeAnnouncement): boolean {
  return a.joinedAt < b.joinedAt || (a.joinedAt === b.joinedAt && a.id < b.id);
}

/** The part of a member the routing pool and onChange listeners care about. */
function routingKey(member: Member): string {
  return JSON.stringify([
    member.healthy,
    member.drained,
    member.leaving ?? false,
    member.name,
    member.apiUrl,
    member.models.map((m) => [m.name, m.digest, m.modified_at]),
    member.loaded.map((m) => [m.name, m.digest]),
  ]);
}

interface Holding {
  member: Member;
  digest: string;
  modifiedAt: string;
  at: number;
}

/** Newest model first; ties by the greater digest, so every node orders them alike. */
function newerFirst(a: { at: number; digest: string }, b: { at: number; digest: string }): number {
  return b.at - a.at || (a.digest < b.digest ? 1 : a.digest > b.digest ? -1 : 0);
}

function timeOf(modifiedAt: string): number {
  const at = Date.parse(modifiedAt);
  return Number.isNaN(at) ? -Infinity : at;
}

export class Membership {
  private selfMember: Member;
  private readonly others = new Map<string, Member>();

  constructor(self: NodeAnnouncement, now: number) {
    this.selfMember = { ...self, healthy: true, lastSeen: now, self: true };
  }

  /** Replaces this node's own announcement; true when something the routing reads changed. */
  setSelf(self: NodeAnnouncement, now: number): boolean {
    const before = routingKey(this.selfMember);
    this.selfMember = { ...self, healthy: true, lastSeen: now, self: true };
    return routingKey(this.selfMember) !== before;
  }

  observe(announcement: NodeAnnouncement, fromPeerId: string, now: number): Observation {
    if (announcement.peerId !== fromPeerId) return 'spoofed';
    if (announcement.id === this.selfMember.id) return 'own-id';
    const known = this.others.get(announcement.id);
    if (known) {
      const olderRun = announcement.joinedAt < known.joinedAt;
      const sameRunNotNewer = announcement.joinedAt === known.joinedAt && announcement.seq <= known.seq;
      if (olderRun || sameRunNotNewer) return 'stale';
    }
    // One member per peer: a peer that now speaks for another node id no longer speaks for the old.
    for (const [id, member] of this.others) if (member.peerId === fromPeerId && id !== announcement.id) this.others.delete(id);
    const member: Member = { ...announcement, healthy: !announcement.leaving, lastSeen: now, self: false };
    this.others.set(member.id, member);
    if (!known) return 'joined';
    return routingKey(member) === routingKey(known) ? 'refreshed' : 'changed';
  }

  /** The peer's last connection closed: its member leaves the routing pool at once. */
  peerDisconnected(peerId: string): boolean {
    let changed = false;
    for (const member of this.others.values()) {
      if (member.peerId !== peerId || !member.healthy) continue;
      member.healthy = false;
      changed = true;
    }
    return changed;
  }

  /** Members silent for failureTimeoutMs turn unhealthy; long-silent unhealthy ones are forgotten. */
  expire(now: number, failureTimeoutMs: number): boolean {
    let changed = false;
    for (const [id, member] of this.others) {
      const silence = now - member.lastSeen;
      if (member.healthy && silence >= failureTimeoutMs) {
        member.healthy = false;
        changed = true;
      } else if (!member.healthy && silence >= FORGET_AFTER_TIMEOUTS * failureTimeoutMs) {
        this.others.delete(id);
        changed = true;
      }
    }
    return changed;
  }

  /** This node first, then the others by id; each with `nameTakenBy` where its name is another's. */
  members(): Member[] {
    const all = [this.selfMember, ...[...this.others.values()].sort((a, b) => (a.id < b.id ? -1 : 1))];
    const owners = new Map<string, Member>();
    for (const member of all) {
      if (!member.self && !member.healthy) continue;
      const owner = owners.get(member.name);
      if (!owner || joinedBefore(member, owner)) owners.set(member.name, member);
    }
    return all.map((member) => {
      const owner = owners.get(member.name);
      const copy: Member = { ...member };
      if (owner && owner.id !== member.id) copy.nameTakenBy = owner.id;
      else delete copy.nameTakenBy;
      return copy;
    });
  }

  self(): Member {
    return this.members()[0]!;
  }

  /** By node id, else by node name (the name's owner when two claim it). */
  member(idOrName: string): Member | undefined {
    const all = this.members();
    return all.find((m) => m.id === idOrName) ?? all.find((m) => m.name === idOrName && !m.nameTakenBy) ?? all.find((m) => m.name === idOrName);
  }

  /** Healthy, undrained members in their own name holding `name` with its newest digest among them. */
  holders(name: string): Member[] {
    const wanted = name.toLowerCase();
    const holdings: Holding[] = [];
    for (const member of this.members()) {
      if (!member.healthy || member.drained || member.nameTakenBy) continue;
      const model = member.models.find((m) => m.name.toLowerCase() === wanted);
      if (model) holdings.push({ member, digest: model.digest, modifiedAt: model.modified_at, at: timeOf(model.modified_at) });
    }
    const newest = [...holdings].sort(newerFirst)[0];
    return holdings.filter((h) => h.digest === newest?.digest).map((h) => h.member);
  }

  /** Model names that healthy members hold with different digests. */
  conflicts(): DigestConflict[] {
    const byName = new Map<string, { name: string; digests: Map<string, { digest: string; at: number; modifiedAt: string; nodes: string[] }> }>();
    for (const member of this.members()) {
      if (!member.healthy || member.nameTakenBy) continue;
      for (const model of member.models) {
        const key = model.name.toLowerCase();
        const entry = byName.get(key) ?? { name: model.name, digests: new Map() };
        byName.set(key, entry);
        const digest = entry.digests.get(model.digest) ?? { digest: model.digest, at: -Infinity, modifiedAt: model.modified_at, nodes: [] };
        entry.digests.set(model.digest, digest);
        const at = timeOf(model.modified_at);
        if (at > digest.at) Object.assign(digest, { at, modifiedAt: model.modified_at });
        digest.nodes.push(member.id);
      }
    }
    return [...byName.values()]
      .filter((entry) => entry.digests.size > 1)
      .map((entry) => ({
        name: entry.name,
        digests: [...entry.digests.values()].sort(newerFirst).map(({ digest, modifiedAt, nodes }) => ({ digest, modifiedAt, nodes: nodes.sort() })),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
