// What <prefix>/snapshot holds: the state machine's snapshot at a log revision, with the members
// applied by then, so a member whose log was compacted away starts from it.

import type { Member } from '../../core/contracts/consensus.js';
import { parseMember } from './log-entry.js';

export interface StoredSnapshot {
  /** The revision of the last log entry the snapshot includes. */
  revision: number;
  members: Member[];
  data: Uint8Array;
}

export function encodeSnapshot(snapshot: StoredSnapshot): string {
  return JSON.stringify({
    v: 1,
    revision: snapshot.revision,
    members: snapshot.members,
    data: Buffer.from(snapshot.data).toString('base64'),
  });
}

export function parseSnapshot(bytes: Uint8Array | string): StoredSnapshot | { invalid: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { invalid: 'not an object' };
  const { v, revision, members, data } = raw as Record<string, unknown>;
  if (v !== 1) return { invalid: 'not a version 1 snapshot' };
  if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 1) return { invalid: 'revision is not a positive integer' };
  if (!Array.isArray(members)) return { invalid: 'members is not a list' };
  const parsed = members.map(parseMember);
  if (parsed.some((m) => m === undefined)) return { invalid: 'a member is not {id, address, voter}' };
  if (typeof data !== 'string') return { invalid: 'data is not base64' };
  return { revision, members: parsed as Member[], data: new Uint8Array(Buffer.from(data, 'base64')) };
}
