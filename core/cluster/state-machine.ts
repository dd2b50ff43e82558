// The cluster facts agreed through consensus, and the only code that changes them: members
// admitted, models with their desired replicas, placements, replicas present, API keys. Whichever
// backend orders the commands, every node applies them here, so every node holds the same facts.
// Load figures never come here: they travel by gossip.

import type { Command, StateMachine } from '../contracts/consensus.js';

export interface AdmittedMember {
  id: string;
  name: string;
  /** The log index that admitted it. */
  admittedAt: number;
}

export interface ModelRecord {
  name: string;
  digest: string;
  replicas: number;
}

export interface ApiKeyRecord {
  id: string;
  /** Hex sha256 of the secret; the secret itself is never stored. */
  hash: string;
  role: string;
  name: string;
  createdAt: string;
  revoked: boolean;
}

export interface ClusterState {
  members: Record<string, AdmittedMember>;
  models: Record<string, ModelRecord>;
  /** Model name → the nodes that should hold it. */
  placements: Record<string, string[]>;
  /** Model name → the nodes that reported a verified copy. */
  replicas: Record<string, string[]>;
  apiKeys: Record<string, ApiKeyRecord>;
  /** Node id → the log index that removed it for good; such a node is never admitted again. */
  removed: Record<string, number>;
}

export type ClusterResult = { ok: true } | { error: string };

type Payload = Record<string, unknown>;
type Handler = (state: ClusterState, payload: Payload, index: number) => ClusterResult;

const MAX_TEXT = 512;

function text(payload: Payload, key: string): string {
  const value = payload[key];
  if (typeof value !== 'string' || value === '' || value.length > MAX_TEXT) {
    throw new CommandError(`${key} must be a non-empty string of at most ${MAX_TEXT} characters`);
  }
  return value;
}

function count(payload: Payload, key: string): number {
  const value = payload[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1000) {
    throw new CommandError(`${key} must be an integer from 0 to 1000`);
  }
  return value;
}

function nodeList(payload: Payload, key: string): string[] {
  const value = payload[key];
  if (!Array.isArray(value) || value.length > 1000 || !value.every((v) => typeof v === 'string' && v !== '' && v.length <= MAX_TEXT)) {
    throw new CommandError(`${key} must be a list of node ids`);
  }
  return [...new Set(value as string[])].sort();
}

class CommandError extends Error {}

const sortedWith = (list: string[] | undefined, id: string) => [...new Set([...(list ?? []), id])].sort();
const without = (list: string[] | undefined, id: string) => (list ?? []).filter((entry) => entry !== id);

function dropEmpty(map: Record<string, string[]>, key: string): void {
  if (map[key]?.length === 0) delete map[key];
}

const HANDLERS: Record<string, Handler> = {
  'member.admit': (state, payload, index) => {
    const id = text(payload, 'id');
    if (state.removed[id] !== undefined) return { error: `node ${id} was removed from the cluster; start it on a new data dir to join again` };
    const name = text(payload, 'name');
    const admittedAt = state.members[id]?.admittedAt ?? index;
    state.members[id] = { id, name, admittedAt };
    return { ok: true };
  },
  'member.remove': (state, payload, index) => {
    const id = text(payload, 'id');
    if (state.removed[id] !== undefined) return { error: `node ${id} was removed already` };
    delete state.members[id];
    state.removed[id] = index;
    for (const map of [state.placements, state.replicas]) {
      for (const model of Object.keys(map)) {
        map[model] = without(map[model], id);
        dropEmpty(map, model);
      }
    }
    return { ok: true };
  },
  'model.set': (state, payload) => {
    const name = text(payload, 'name');
    state.models[name] = { name, digest: text(payload, 'digest'), replicas: count(payload, 'replicas') };
    return { ok: true };
  },
  /** A model the cluster holds: created with `replicas` when unknown, else its digest follows and its replicas stay. */
  'model.register': (state, payload) => {
    const name = text(payload, 'name');
    const digest = text(payload, 'digest');
    const replicas = count(payload, 'replicas');
    const record = state.models[name];
    if (!record) state.models[name] = { name, digest, replicas };
    else if (record.digest !== digest) {
      record.digest = digest;
      // Copies verified against the old digest are not copies of this one.
      delete state.replicas[name];
    }
    return { ok: true };
  },
  'model.delete': (state, payload) => {
    const name = text(payload, 'name');
    if (!state.models[name]) return { error: `model '${name}' not found` };
    delete state.models[name];
    delete state.placements[name];
    delete state.replicas[name];
    return { ok: true };
  },
  'placement.set': (state, payload) => {
    const model = text(payload, 'model');
    if (!state.models[model]) return { error: `model '${model}' not found` };
    const nodes = nodeList(payload, 'nodes');
    const stranger = nodes.find((id) => !state.members[id]);
    if (stranger) return { error: `node ${stranger} is not a member` };
    state.placements[model] = nodes;
    dropEmpty(state.placements, model);
    return { ok: true };
  },
  'replica.report': (state, payload) => {
    const model = text(payload, 'model');
    const node = text(payload, 'node');
    if (!state.members[node]) return { error: `node ${node} is not a member` };
    if (payload.present === true) {
      const record = state.models[model];
      if (!record) return { error: `model '${model}' not found` };
      if (text(payload, 'digest') !== record.digest) return { error: `node ${node} holds another digest of '${model}'` };
      state.replicas[model] = sortedWith(state.replicas[model], node);
    } else {
      state.replicas[model] = without(state.replicas[model], node);
      dropEmpty(state.replicas, model);
    }
    return { ok: true };
  },
  'key.create': (state, payload) => {
    const id = text(payload, 'id');
    if (state.apiKeys[id]) return { error: `key ${id} exists` };
    const hash = text(payload, 'hash');
    if (!/^[0-9a-f]{64}$/.test(hash)) return { error: 'hash must be a hex sha256' };
    state.apiKeys[id] = { id, hash, role: text(payload, 'role'), name: text(payload, 'name'), createdAt: text(payload, 'createdAt'), revoked: false };
    return { ok: true };
  },
  'key.revoke': (state, payload) => {
    const id = text(payload, 'id');
    const key = state.apiKeys[id];
    if (!key) return { error: `key ${id} not found` };
    key.revoked = true;
    return { ok: true };
  },
};

export const CLUSTER_COMMANDS = Object.freeze(Object.keys(HANDLERS));

function emptyState(): ClusterState {
  return { members: {}, models: {}, placements: {}, replicas: {}, apiKeys: {}, removed: {} };
}

/** Keys in a fixed order, so equal states give equal snapshots on every node. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

function isRecordOfObjects(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The state is owned by the consensus member that applies it: `apply` changes it in place, and
 * readers must not.
 */
export const clusterStateMachine: StateMachine<ClusterState> = {
  initial: emptyState,
  apply(state, command: Command, index) {
    const handler = Object.hasOwn(HANDLERS, command.type) ? HANDLERS[command.type] : undefined;
    if (!handler) return { state, result: { error: `unknown cluster command ${JSON.stringify(String(command.type)).slice(0, 80)}` } };
    if (!isRecordOfObjects(command.payload)) return { state, result: { error: `${command.type}: payload must be an object` } };
    try {
      return { state, result: handler(state, command.payload, index) };
    } catch (error) {
      if (error instanceof CommandError) return { state, result: { error: `${command.type}: ${error.message}` } };
      throw error;
    }
  },
  snapshot: (state) => Buffer.from(JSON.stringify(canonical(state))),
  restore(snapshot) {
    const parsed: unknown = JSON.parse(Buffer.from(snapshot).toString('utf8'));
    const state = emptyState();
    if (!isRecordOfObjects(parsed)) throw new Error('cluster snapshot is not an object');
    for (const key of Object.keys(state) as (keyof ClusterState)[]) {
      const section = parsed[key];
      if (!isRecordOfObjects(section)) throw new Error(`cluster snapshot lacks ${key}`);
      (state as unknown as Record<string, unknown>)[key] = section;
    }
    return state;
  },
};
