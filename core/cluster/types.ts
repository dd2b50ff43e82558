// What nodes tell each other about themselves by gossip, and the view of the cluster every node
// builds from it. The request path, the cluster API and the scheduler read only this view.

/** Bumped when an announcement changes incompatibly; a peer speaking another one is refused. */
export const CLUSTER_PROTOCOL_VERSION = 1;

/** Gossip topic the announcements travel on. */
export const ANNOUNCE_TOPIC = '/ollama-distributed/members/1';

export interface AnnouncedGpu {
  name: string;
  /** 'cuda' | 'vulkan' | 'metal' */
  backend: string;
  vramTotal: number;
  vramFree: number;
}

/** A model the node holds, exactly as its own /api/tags lists it. */
export interface AnnouncedModel {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  /** Hex manifest digest, as /api/tags shows it. */
  digest: string;
  details: Record<string, unknown>;
  /** Present when known, as Ollama's list has them. */
  capabilities?: string[];
}

/** A model loaded on the node, exactly as its own /api/ps lists it. */
export interface AnnouncedLoadedModel {
  name: string;
  model: string;
  size: number;
  digest: string;
  details: Record<string, unknown>;
  expires_at: string;
  size_vram: number;
  context_length: number;
}

export interface AnnouncedLoad {
  /** Inference requests running now. */
  inFlight: number;
  /** Admitted requests waiting for a slot. */
  queued: number;
  /** Median time to first token over the recent window, ms; 0 with no recent request. */
  ttftMs: number;
  /** Generated tokens per second over the recent window. */
  tokensPerSecond: number;
  /** Requests one loaded model runs at once (engine.num_parallel). */
  slots: number;
  /** Prompt tokens evaluated per second of prompt evaluation over the recent window; 0 until measured. */
  promptTokensPerSecond: number;
  /** Model bytes loaded per second of load over recent loads; 0 until measured. */
  loadBytesPerSecond: number;
}

/** Where a node's consensus member listens, and the cluster it belongs to (null before it joins one). */
export interface ConsensusPeer {
  address: string;
  clusterId: string | null;
}

/** One node's word about itself, published about once a second. */
export interface NodeAnnouncement {
  protocol: number;
  /** The node id of its data dir: the id of /api/v1/health, cluster status and /api/v1/nodes/:id. */
  id: string;
  peerId: string;
  name: string;
  /** Base URL other nodes forward to (api.advertise, or derived from api.listen). */
  apiUrl: string;
  /** The product version. */
  version: string;
  engine: string;
  /** Empty when the node runs on CPU only. */
  gpus: AnnouncedGpu[];
  models: AnnouncedModel[];
  loaded: AnnouncedLoadedModel[];
  load: AnnouncedLoad;
  /** A drained node finishes what it runs and takes nothing new. */
  drained: boolean;
  /** Bytes free on the filesystem of its model store; absent when unknown (or from an earlier version). */
  diskFree?: number;
  /** When the node joined (ms since the epoch): the earlier of two nodes with one name keeps it. */
  joinedAt: number;
  /** Increases with every announcement of one run of the node; older ones are ignored. */
  seq: number;
  /** Set on the last announcement of a node that stops cleanly. */
  leaving?: boolean;
  /** Absent with a consensus backend whose members need no address (etcd). */
  consensus?: ConsensusPeer;
}

/** A node as the view sees it now. */
export interface Member extends NodeAnnouncement {
  /** Connected and heard from within p2p.failure_timeout (always true for this node). */
  healthy: boolean;
  /** ms since the epoch of the last announcement heard. */
  lastSeen: number;
  /** True for the node holding this view. */
  self: boolean;
  /**
   * Set when another member holds this member's name (the one that joined first): the id of that
   * member. Such a member is out of the routing pool until it restarts under another name.
   */
  nameTakenBy?: string;
}

/** One model name held with different digests on different nodes. */
export interface DigestConflict {
  name: string;
  /** Each digest and the node ids holding it, newest model first. */
  digests: { digest: string; modifiedAt: string; nodes: string[] }[];
}

/**
 * Read side of the membership, kept by core/cluster. Invariants: `self()` is always a member and
 * healthy; `holders` returns only healthy, undrained members holding the newest digest of the name.
 */
export interface ClusterView {
  self(): Member;
  /** Every member known, healthy or not, this node included. */
  members(): Member[];
  /** A member by node id or node name. */
  member(idOrName: string): Member | undefined;
  /** Healthy, undrained members that can run `name` (a full name:tag). */
  holders(name: string): Member[];
  conflicts(): DigestConflict[];
  /** Marks this node drained or not and announces it at once. */
  setDrained(drained: boolean): Promise<void>;
  /** Fires after any change of a member's health, drain flag, models or loaded models. */
  onChange(listener: () => void): () => void;
}
