// Peer input is checked here before the state machine sees it: a malformed message is dropped.

import { isConfState } from './conf.js';
import { MESSAGE_TYPES, type Entry, type Message, type MessageType, type Snapshot } from './types.js';

const TYPES = new Set<MessageType>(MESSAGE_TYPES);

const isIndex = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function isEntry(e: unknown): e is Entry {
  if (typeof e !== 'object' || e === null) return false;
  const { index, term, type, data } = e as Record<string, unknown>;
  return isIndex(index) && isIndex(term) && (type === 'normal' || type === 'config') && data instanceof Uint8Array;
}

function isSnapshot(s: unknown): s is Snapshot {
  if (typeof s !== 'object' || s === null) return false;
  const { meta, data } = s as Record<string, unknown>;
  if (typeof meta !== 'object' || meta === null || !(data instanceof Uint8Array)) return false;
  const { index, term, conf } = meta as Record<string, unknown>;
  return isIndex(index) && index > 0 && isIndex(term) && term > 0 && isConfState(conf);
}

/** True when `m` is well formed for its type and addressed to `self`. */
export function isValidMessage(m: unknown, self: string): m is Message {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  if (!TYPES.has(msg.type as MessageType) || msg.to !== self) return false;
  if (typeof msg.from !== 'string' || msg.from.length === 0 || msg.from === self || !isIndex(msg.term)) return false;
  for (const k of ['index', 'logTerm', 'commit', 'rejectHint'] as const) {
    if (msg[k] !== undefined && !isIndex(msg[k])) return false;
  }
  if (msg.reject !== undefined && typeof msg.reject !== 'boolean') return false;
  if (msg.context !== undefined && typeof msg.context !== 'string') return false;
  if (msg.entries !== undefined && !(Array.isArray(msg.entries) && msg.entries.every(isEntry))) return false;
  const type = msg.type as MessageType;
  switch (type) {
    case 'propose':
      return Array.isArray(msg.entries) && msg.entries.length > 0;
    case 'pre-vote':
    case 'vote':
      return msg.term > 0 && isIndex(msg.index) && isIndex(msg.logTerm);
    case 'append': {
      if (msg.term === 0 || !isIndex(msg.index) || !isIndex(msg.logTerm) || !isIndex(msg.commit)) return false;
      const entries = (msg.entries ?? []) as Entry[];
      const base = msg.index;
      return entries.every((e, i) => e.index === base + 1 + i && e.term > 0 && e.term <= (msg.term as number));
    }
    case 'append-resp':
      return msg.term > 0 && isIndex(msg.index) && (msg.reject !== true || isIndex(msg.rejectHint));
    case 'heartbeat':
      return msg.term > 0 && isIndex(msg.commit);
    case 'snapshot':
      return msg.term > 0 && isSnapshot(msg.snapshot);
    case 'read-index':
      return typeof msg.context === 'string';
    case 'read-index-resp':
      return msg.term > 0 && isIndex(msg.index) && typeof msg.context === 'string';
    default:
      return msg.term > 0;
  }
}
