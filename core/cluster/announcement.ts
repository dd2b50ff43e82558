// A node announcement as it travels by gossip: JSON bytes, and the checks every field of a peer's
// message passes before the view takes it in. Nothing a peer sends can make decoding throw.

import { CLUSTER_PROTOCOL_VERSION, type AnnouncedGpu, type ConsensusPeer, type AnnouncedLoad, type AnnouncedLoadedModel, type AnnouncedModel, type NodeAnnouncement } from './types.js';

/** Bounds on a peer's message; past any of them the whole message is dropped. */
export const ANNOUNCEMENT_LIMITS = {
  bytes: 1024 * 1024,
  models: 4096,
  loaded: 4096,
  gpus: 64,
  /** Model names: Ollama's host/namespace/model:tag with room to spare. */
  modelName: 512,
  nodeName: 256,
  id: 128,
  url: 2048,
  shortText: 128,
  detailKeys: 32,
  detailText: 256,
  detailList: 64,
} as const;

export type Decoded =
  | { ok: true; announcement: NodeAnnouncement }
  /** `protocol` is set when the message is well-formed enough to name another protocol version. */
  | { ok: false; reason: string; protocol?: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeAnnouncement(announcement: NodeAnnouncement): Uint8Array {
  return encoder.encode(JSON.stringify(announcement));
}

/**
 * The bytes of `announcement`, within ANNOUNCEMENT_LIMITS: when its model list is too long or too
 * large it keeps the first models (the newest, as /api/tags orders them) and says how many it cut.
 */
export function fitAnnouncement(announcement: NodeAnnouncement): { bytes: Uint8Array; cut: number } {
  let models = announcement.models.slice(0, ANNOUNCEMENT_LIMITS.models);
  for (;;) {
    const bytes = encodeAnnouncement({ ...announcement, models });
    if (bytes.byteLength <= ANNOUNCEMENT_LIMITS.bytes || models.length === 0) return { bytes, cut: announcement.models.length - models.length };
    models = models.slice(0, Math.floor(models.length / 2));
  }
}

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

type Json = Record<string, unknown>;

function object(value: unknown, path: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${path} is not an object`);
  return value as Json;
}

function text(value: unknown, path: string, max: number, min = 0): string {
  if (typeof value !== 'string') fail(`${path} is not a string`);
  if (value.length < min || value.length > max) fail(`${path} must be ${min} to ${max} characters long`);
  // Control characters would forge lines in logs and tables that print these fields.
  if (/[\u0000-\u001f\u007f]/.test(value)) fail(`${path} holds control characters`);
  return value;
}

function amount(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${path} is not a finite number >= 0`);
  return value;
}

function count(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) fail(`${path} is not an integer >= 0`);
  return value as number;
}

function flag(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(`${path} is not a boolean`);
  return value;
}

function list(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value)) fail(`${path} is not a list`);
  if (value.length > max) fail(`${path} holds ${value.length} entries, more than ${max}`);
  return value;
}

function digest(value: unknown, path: string): string {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(`${path} is not a hex sha256 digest`);
  return value;
}

function timeText(value: unknown, path: string): string {
  const at = text(value, path, 64, 1);
  if (Number.isNaN(Date.parse(at))) fail(`${path} is not a timestamp`);
  return at;
}

function apiUrl(value: unknown, path: string): string {
  const raw = text(value, path, ANNOUNCEMENT_LIMITS.url, 1);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(`${path} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${path} is not an http or https URL`);
  if (url.username || url.password || url.search || url.hash) fail(`${path} must be a bare base URL`);
  return raw;
}

function consensusPeer(value: unknown, path: string): ConsensusPeer {
  const c = object(value, path);
  const address = text(c.address, `${path}.address`, ANNOUNCEMENT_LIMITS.url, 1);
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) fail(`${path}.address is not host:port`);
  const clusterId = c.clusterId === null ? null : text(c.clusterId, `${path}.clusterId`, ANNOUNCEMENT_LIMITS.id, 1);
  return { address, clusterId };
}

/** Ollama's model details: flat text, numbers, flags and lists of text, nothing nested deeper. */
function details(value: unknown, path: string): Record<string, unknown> {
  const source = object(value, path);
  const keys = Object.keys(source);
  if (keys.length > ANNOUNCEMENT_LIMITS.detailKeys) fail(`${path} has more than ${ANNOUNCEMENT_LIMITS.detailKeys} keys`);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    text(key, `${path} key`, ANNOUNCEMENT_LIMITS.shortText, 1);
    const field = source[key];
    const at = `${path}.${key}`;
    if (field === null || typeof field === 'boolean') out[key] = field;
    else if (typeof field === 'number') out[key] = amount(field, at);
    else if (typeof field === 'string') out[key] = text(field, at, ANNOUNCEMENT_LIMITS.detailText);
    else out[key] = list(field, at, ANNOUNCEMENT_LIMITS.detailList).map((entry, i) => text(entry, `${at}[${i}]`, ANNOUNCEMENT_LIMITS.detailText));
  }
  return out;
}

function gpu(value: unknown, path: string): AnnouncedGpu {
  const g = object(value, path);
  return {
    name: text(g.name, `${path}.name`, ANNOUNCEMENT_LIMITS.nodeName),
    backend: text(g.backend, `${path}.backend`, ANNOUNCEMENT_LIMITS.shortText),
    vramTotal: amount(g.vramTotal, `${path}.vramTotal`),
    vramFree: amount(g.vramFree, `${path}.vramFree`),
  };
}

function model(value: unknown, path: string): AnnouncedModel {
  const m = object(value, path);
  return {
    name: text(m.name, `${path}.name`, ANNOUNCEMENT_LIMITS.modelName, 1),
    model: text(m.model, `${path}.model`, ANNOUNCEMENT_LIMITS.modelName, 1),
    modified_at: timeText(m.modified_at, `${path}.modified_at`),
    size: amount(m.size, `${path}.size`),
    digest: digest(m.digest, `${path}.digest`),
    details: details(m.details, `${path}.details`),
    ...(m.capabilities === undefined ? {} : { capabilities: capabilities(m.capabilities, `${path}.capabilities`) }),
  };
}

function capabilities(value: unknown, path: string): string[] {
  return list(value, path, ANNOUNCEMENT_LIMITS.detailList).map((c, i) => text(c, `${path}[${i}]`, ANNOUNCEMENT_LIMITS.shortText, 1));
}

function loadedModel(value: unknown, path: string): AnnouncedLoadedModel {
  const m = object(value, path);
  return {
    name: text(m.name, `${path}.name`, ANNOUNCEMENT_LIMITS.modelName, 1),
    model: text(m.model, `${path}.model`, ANNOUNCEMENT_LIMITS.modelName, 1),
    size: amount(m.size, `${path}.size`),
    digest: digest(m.digest, `${path}.digest`),
    details: details(m.details, `${path}.details`),
    expires_at: timeText(m.expires_at, `${path}.expires_at`),
    size_vram: amount(m.size_vram, `${path}.size_vram`),
    context_length: count(m.context_length, `${path}.context_length`),
  };
}

function load(value: unknown, path: string): AnnouncedLoad {
  const l = object(value, path);
  return {
    inFlight: count(l.inFlight, `${path}.inFlight`),
    queued: count(l.queued, `${path}.queued`),
    ttftMs: amount(l.ttftMs, `${path}.ttftMs`),
    tokensPerSecond: amount(l.tokensPerSecond, `${path}.tokensPerSecond`),
    // Absent from nodes of an earlier version: one slot, nothing measured.
    slots: l.slots === undefined ? 1 : Math.max(1, count(l.slots, `${path}.slots`)),
    promptTokensPerSecond: l.promptTokensPerSecond === undefined ? 0 : amount(l.promptTokensPerSecond, `${path}.promptTokensPerSecond`),
    loadBytesPerSecond: l.loadBytesPerSecond === undefined ? 0 : amount(l.loadBytesPerSecond, `${path}.loadBytesPerSecond`),
  };
}

/** Only the known fields are kept, so nothing a peer adds travels further through this node. */
function announcement(a: Json): NodeAnnouncement {
  const checked: NodeAnnouncement = {
    protocol: CLUSTER_PROTOCOL_VERSION,
    id: text(a.id, 'id', ANNOUNCEMENT_LIMITS.id, 1),
    peerId: text(a.peerId, 'peerId', ANNOUNCEMENT_LIMITS.id, 1),
    name: text(a.name, 'name', ANNOUNCEMENT_LIMITS.nodeName, 1),
    apiUrl: apiUrl(a.apiUrl, 'apiUrl'),
    version: text(a.version, 'version', ANNOUNCEMENT_LIMITS.shortText, 1),
    engine: text(a.engine, 'engine', ANNOUNCEMENT_LIMITS.shortText, 1),
    gpus: list(a.gpus, 'gpus', ANNOUNCEMENT_LIMITS.gpus).map((g, i) => gpu(g, `gpus[${i}]`)),
    models: list(a.models, 'models', ANNOUNCEMENT_LIMITS.models).map((m, i) => model(m, `models[${i}]`)),
    loaded: list(a.loaded, 'loaded', ANNOUNCEMENT_LIMITS.loaded).map((m, i) => loadedModel(m, `loaded[${i}]`)),
    load: load(a.load, 'load'),
    drained: flag(a.drained, 'drained'),
    joinedAt: count(a.joinedAt, 'joinedAt'),
    seq: count(a.seq, 'seq'),
  };
  if (a.leaving !== undefined) checked.leaving = flag(a.leaving, 'leaving');
  if (a.diskFree !== undefined) checked.diskFree = amount(a.diskFree, 'diskFree');
  if (a.consensus !== undefined) checked.consensus = consensusPeer(a.consensus, 'consensus');
  return checked;
}

export function decodeAnnouncement(data: Uint8Array): Decoded {
  if (data.byteLength > ANNOUNCEMENT_LIMITS.bytes) return { ok: false, reason: `message of ${data.byteLength} bytes is larger than ${ANNOUNCEMENT_LIMITS.bytes}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, reason: 'message is not UTF-8 JSON' };
  }
  try {
    const fields = object(parsed, 'message');
    if (fields.protocol !== CLUSTER_PROTOCOL_VERSION) {
      const protocol = count(fields.protocol, 'protocol');
      return { ok: false, reason: `speaks cluster protocol ${protocol}, this node speaks ${CLUSTER_PROTOCOL_VERSION}`, protocol };
    }
    return { ok: true, announcement: announcement(fields) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    throw error;
  }
}
