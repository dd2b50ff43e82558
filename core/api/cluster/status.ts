// The cluster as the /api/v1 cluster API shows it: each member with its health, drain flag, models,
// loaded models and load, and the names held with different digests. Pure over the view.

import type { ClusterView, DigestConflict, Member } from '../../cluster/types.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function nodeEntry(member: Member) {
  return {
    id: member.id,
    name: member.name,
    peer_id: member.peerId,
    api_url: member.apiUrl,
    healthy: member.healthy,
    drained: member.drained,
    self: member.self,
    version: member.version,
    engine: member.engine,
    gpus: member.gpus.map((gpu) => ({ name: gpu.name, backend: gpu.backend, vram_total: gpu.vramTotal, vram_free: gpu.vramFree })),
    models: member.models.map((model) => model.name),
    loaded: member.loaded.map((model) => model.name),
    load: {
      in_flight: member.load.inFlight,
      queued: member.load.queued,
      ttft_ms: member.load.ttftMs,
      tokens_per_second: member.load.tokensPerSecond,
    },
    joined_at: iso(member.joinedAt),
    last_seen: iso(member.lastSeen),
    ...(member.nameTakenBy ? { name_taken_by: member.nameTakenBy } : {}),
  };
}

export type NodeEntry = ReturnType<typeof nodeEntry>;

function conflictEntry(conflict: DigestConflict) {
  return {
    name: conflict.name,
    digests: conflict.digests.map((held) => ({ digest: held.digest, modified_at: held.modifiedAt, nodes: held.nodes })),
  };
}

/** `leader` stays null until the cluster has consensus. */
export function clusterStatus(view: ClusterView) {
  const self = view.self();
  return {
    node_id: self.id,
    node_name: self.name,
    leader: null,
    nodes: view.members().map(nodeEntry),
    conflicts: view.conflicts().map(conflictEntry),
  };
}
