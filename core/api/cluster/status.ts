// The cluster as the /api/v1 cluster API shows it: each member with its health, drain flag, models,
// loaded models and load, the consensus leader and each node's vote, and the names held with
// different digests, and what this node routed to each. Pure over the view, the consensus member
// and the scheduler's figures.

import type { ClusterView, DigestConflict, Member } from '../../cluster/types.js';
import type { Consensus } from '../../contracts/consensus.js';
import type { NodeRouting, QueueEntry } from '../../scheduler/scheduler.js';

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
      slots: member.load.slots,
      prompt_tokens_per_second: member.load.promptTokensPerSecond,
      load_bytes_per_second: member.load.loadBytesPerSecond,
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

export type ConsensusRole = 'leader' | 'voter' | 'non-voter';

/** The leader as every member names it: its id, name (when gossip knows it) and term. */
function leaderEntry(view: ClusterView, consensus: Consensus) {
  const leader = consensus.leader();
  if (!leader) return null;
  return { id: leader.id, name: view.member(leader.id)?.name ?? null, term: leader.term };
}

/** Each node's part in consensus; null for a node not (yet) in the consensus configuration. */
function roles(consensus: Consensus): (id: string) => ConsensusRole | null {
  const leader = consensus.leader()?.id;
  const members = new Map(consensus.members().map((m) => [m.id, m]));
  return (id) => {
    if (id === leader) return 'leader';
    const member = members.get(id);
    if (!member) return null;
    return member.voter ? 'voter' : 'non-voter';
  };
}

/** What this node sent the member: requests routed, forwards that failed before an answer, and its cooldown. */
function routingEntry(routing: NodeRouting | undefined) {
  return {
    routed: routing?.routed ?? 0,
    failed: routing?.failed ?? 0,
    last_routed_at: routing?.lastRoutedAt === undefined ? null : iso(routing.lastRoutedAt),
    cooling_until: routing?.coolingUntil === undefined ? null : iso(routing.coolingUntil),
  };
}

export function clusterStatus(view: ClusterView, consensus: Consensus, routing: ReadonlyMap<string, NodeRouting>) {
  const self = view.self();
  const role = roles(consensus);
  return {
    node_id: self.id,
    node_name: self.name,
    cluster_id: consensus.clusterId() ?? null,
    consensus: consensus.name,
    leader: leaderEntry(view, consensus),
    term: consensus.leader()?.term ?? null,
    /** The last consensus index this node applied: equal on every node once they caught up. */
    applied_index: consensus.state().index,
    // A node whose cluster id differs from this one's belongs to another cluster: a fork to fix.
    nodes: view.members().map((member) => ({
      ...nodeEntry(member),
      role: role(member.id),
      cluster_id: member.consensus?.clusterId ?? null,
      routing: routingEntry(routing.get(member.id)),
    })),
    conflicts: view.conflicts().map(conflictEntry),
  };
}

/** GET /api/v1/queue: the requests waiting here for a slot, next first. */
export function queueEntry(size: number, waiting: readonly QueueEntry[]) {
  return {
    queue_size: size,
    waiting: waiting.map((entry) => ({ id: entry.id, model: entry.model, kind: entry.kind, position: entry.position, waited_ms: entry.waitedMs })),
  };
}
