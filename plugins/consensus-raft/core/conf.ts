// Membership: applying one ConfChange to a ConfState, and the ConfChange's encoding inside a
// 'config' log entry.

import type { ConfChange, ConfMember, ConfState, NodeId } from './types.js';

export function voters(conf: ConfState): NodeId[] {
  return conf.members.filter((m) => m.voter).map((m) => m.id);
}

export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.members.some((m) => m.id === id && m.voter);
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.members.some((m) => m.id === id);
}

/** Applies a change; 'set' adds or replaces the member, 'remove' of an absent member is a no-op. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const id = change.type === 'set' ? change.member.id : change.id;
  const members = conf.members.filter((m) => m.id !== id);
  if (change.type === 'set') members.push({ ...change.member });
  return { members };
}

/** Why the leader refuses `change` against `conf`, or undefined when it may be proposed. */
export function confChangeProblem(conf: ConfState, change: ConfChange): string | undefined {
  if (change.type === 'set') {
    if (!isConfMember(change.member)) return 'a member needs a non-empty id, an address and a voter flag';
  } else if (typeof change.id !== 'string' || !isMember(conf, change.id)) {
    return `${String(change.id)} is not a member`;
  }
  const after = applyConfChange(conf, change);
  if (voters(after).length === 0) return 'the change would leave no voter';
  return undefined;
}

function isConfMember(m: unknown): m is ConfMember {
  if (typeof m !== 'object' || m === null) return false;
  const { id, address, voter } = m as Record<string, unknown>;
  return typeof id === 'string' && id.length > 0 && typeof address === 'string' && typeof voter === 'boolean';
}

export function isConfState(c: unknown): c is ConfState {
  if (typeof c !== 'object' || c === null) return false;
  const { members } = c as Record<string, unknown>;
  return Array.isArray(members) && members.every(isConfMember);
}

export function encodeConfChange(change: ConfChange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(change));
}

/** Undefined when the bytes are not a ConfChange (never trusted: they came through the log). */
export function decodeConfChange(data: Uint8Array): ConfChange | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.type === 'set' && isConfMember(v.member)) return { type: 'set', member: v.member };
  if (v.type === 'remove' && typeof v.id === 'string') return { type: 'remove', id: v.id };
  return undefined;
}
