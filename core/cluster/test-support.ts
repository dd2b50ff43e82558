// What the cluster tests share: a well-formed announcement to vary field by field.

import { CLUSTER_PROTOCOL_VERSION, type AnnouncedModel, type NodeAnnouncement } from './types.js';

export const DIGEST_A = 'a'.repeat(64);
export const DIGEST_B = 'b'.repeat(64);

export function heldModel(name: string, digest = DIGEST_A, modifiedAt = '2025-01-01T00:00:00Z'): AnnouncedModel {
  return {
    name,
    model: name,
    modified_at: modifiedAt,
    size: 1000,
    digest,
    details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '116K', quantization_level: 'F32' },
  };
}

/** Node `id` (peer `peer-<id>`, name `node-<id>`) holding `tiny:latest`, joined at 1000, seq 1. */
export function announcement(id: string, fields: Partial<NodeAnnouncement> = {}): NodeAnnouncement {
  return {
    protocol: CLUSTER_PROTOCOL_VERSION,
    id,
    peerId: `peer-${id}`,
    name: `node-${id}`,
    apiUrl: `http://127.0.0.1:${11000 + id.charCodeAt(0)}`,
    version: '0.1.0',
    engine: 'sim',
    gpus: [],
    models: [heldModel('tiny:latest')],
    loaded: [],
    load: { inFlight: 0, queued: 0, ttftMs: 0, tokensPerSecond: 0, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
    drained: false,
    joinedAt: 1000,
    seq: 1,
    ...fields,
  };
}
