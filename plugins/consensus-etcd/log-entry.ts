// What one key under <prefix>/log/ holds: a state machine command or a membership change, with the
// request id its proposer waits on. Values come from etcd, so other writers: parse, never trust.

import type { Command, Member } from '../../core/contracts/consensus.js';

export type LogEntry =
  | { id: string; op: 'command'; command: Command }
  | { id: string; op: 'member-set'; member: Member }
  | { id: string; op: 'member-remove'; memberId: string };

const MAX_ID_LENGTH = 256;

export function encodeEntry(entry: LogEntry): string {
  return JSON.stringify({ v: 1, ...entry });
}

/** The entry, or the reason the bytes are not one. */
export function parseEntry(bytes: Uint8Array | string): LogEntry | { invalid: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch {
    return { invalid: 'not JSON' };
  }
  if (!isRecord(raw) || raw.v !== 1) return { invalid: 'not a version 1 log entry' };
  if (!isId(raw.id)) return { invalid: 'id is not a non-empty string' };
  switch (raw.op) {
    case 'command': {
      const command = raw.command;
      if (!isRecord(command) || typeof command.type !== 'string' || command.type === '') {
        return { invalid: 'command.type is not a non-empty string' };
      }
      return { id: raw.id, op: 'command', command: { type: command.type, payload: command.payload } };
    }
    case 'member-set': {
      const member = parseMember(raw.member);
      return member ? { id: raw.id, op: 'member-set', member } : { invalid: 'member is not {id, address, voter}' };
    }
    case 'member-remove':
      return isId(raw.memberId) ? { id: raw.id, op: 'member-remove', memberId: raw.memberId } : { invalid: 'memberId is not a non-empty string' };
    default:
      return { invalid: `unknown op ${JSON.stringify(raw.op)}` };
  }
}

export function parseMember(raw: unknown): Member | undefined {
  if (!isRecord(raw) || !isId(raw.id) || typeof raw.address !== 'string' || typeof raw.voter !== 'boolean') return undefined;
  return { id: raw.id, address: raw.address, voter: raw.voter };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}
