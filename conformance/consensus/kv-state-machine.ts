// The state machine the consensus conformance suite replicates: a string-to-string map with put,
// compare-and-swap and delete. Deterministic, no I/O; a malformed command is a refusal result.

import type { Command, StateMachine } from '../../core/contracts/consensus.js';

export type KvState = Readonly<Record<string, string>>;

export type KvCommand =
  | { type: 'put'; payload: { key: string; value: string } }
  /** `from: null` swaps only when the key is missing. */
  | { type: 'cas'; payload: { key: string; from: string | null; to: string } }
  | { type: 'delete'; payload: { key: string } };

/** What apply returns for a command it refuses. */
export interface KvRefusal {
  refused: string;
}

export const kvCommand = {
  put: (key: string, value: string): KvCommand => ({ type: 'put', payload: { key, value } }),
  cas: (key: string, from: string | null, to: string): KvCommand => ({ type: 'cas', payload: { key, from, to } }),
  delete: (key: string): KvCommand => ({ type: 'delete', payload: { key } }),
};

const isString = (v: unknown): v is string => typeof v === 'string';

function refusal(command: Command): KvRefusal | undefined {
  const p = command.payload as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) return { refused: `kv ${String(command.type)}: payload must be an object` };
  if (!isString(p.key)) return { refused: `kv ${command.type}: payload.key must be a string` };
  switch (command.type) {
    case 'put':
      return isString(p.value) ? undefined : { refused: 'kv put: payload.value must be a string' };
    case 'cas':
      if (!(p.from === null || isString(p.from))) return { refused: 'kv cas: payload.from must be a string or null' };
      return isString(p.to) ? undefined : { refused: 'kv cas: payload.to must be a string' };
    case 'delete':
      return undefined;
    default:
      return { refused: `kv: unknown command type ${JSON.stringify(command.type)}` };
  }
}

/** Results: put → null, cas → whether it swapped, delete → whether the key existed. */
export const kvStateMachine: StateMachine<KvState> = {
  initial: () => ({}),
  apply(state, command) {
    const refused = refusal(command);
    if (refused) return { state, result: refused };
    const c = command as KvCommand;
    const has = Object.hasOwn(state, c.payload.key);
    switch (c.type) {
      case 'put':
        return { state: { ...state, [c.payload.key]: c.payload.value }, result: null };
      case 'cas': {
        const current = has ? state[c.payload.key]! : null;
        if (current !== c.payload.from) return { state, result: false };
        return { state: { ...state, [c.payload.key]: c.payload.to }, result: true };
      }
      case 'delete': {
        if (!has) return { state, result: false };
        const rest = { ...state };
        delete rest[c.payload.key];
        return { state: rest, result: true };
      }
    }
  },
  snapshot(state) {
    const sorted = Object.fromEntries(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return new TextEncoder().encode(JSON.stringify(sorted));
  },
  restore(snapshot) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(snapshot));
    } catch (err) {
      throw new Error(`kv snapshot is not UTF-8 JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error('kv snapshot must be a JSON object of string values');
    }
    for (const [key, value] of Object.entries(parsed)) {
      if (!isString(value)) throw new Error(`kv snapshot: value of ${JSON.stringify(key)} is not a string`);
    }
    return parsed as KvState;
  },
};
