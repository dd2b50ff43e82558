// The cluster unit: announces this node by gossip about once a second and at once on change,
// feeds what peers announce into the membership rules, and serves the view the node routes by.

import { statfs } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { runningModels, taggedModels, type DetailsReader } from '../api/ollama/model-list.js';
import type { NodeConfig } from '../config/schema.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Engine, ModelDetails } from '../contracts/engine.js';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import type { GossipMessage, PeerEvent, Transport } from '../contracts/transport.js';
import { ProductError } from '../errors.js';
import { modelDetails } from '../models/spec.js';
import { PRODUCT_VERSION } from '../version.js';
import { decodeAnnouncement, fitAnnouncement } from './announcement.js';
import { announcedApiUrl } from './api-url.js';
import { DropLog } from './drop-log.js';
import type { LoadWindow } from './load-window.js';
import { Membership } from './membership.js';
import type { ModelChanges } from './model-changes.js';
import {
  ANNOUNCE_TOPIC,
  CLUSTER_PROTOCOL_VERSION,
  type AnnouncedGpu,
  type AnnouncedLoadedModel,
  type AnnouncedModel,
  type ClusterView,
  type DigestConflict,
  type Member,
  type NodeAnnouncement,
} from './types.js';

export const ANNOUNCE_INTERVAL_MS = 1000;
/** How often silence is checked: a silent member leaves within failure_timeout + this. */
export const EXPIRE_TICK_MS = 250;
/**
 * Longest a node that bootstraps listens for the members before its start completes: enough for
 * the join handshake, gossip subscriptions and a round of announcements. A bootstrap peer that is
 * down costs a start no more than this.
 */
export const JOIN_WINDOW_MS = 3000;
/** An admitted peer learns of our gossip subscription within ~150 ms on loopback; then we greet it. */
const WELCOME_DELAY_MS = 200;
/**
 * After the goodbye, before the transport may close: peers relay it only while this node is still
 * connected (their gossip ignores messages from a peer that is gone), and members this node is not
 * connected to hear it only through them.
 */
const GOODBYE_RELAY_MS = 100;
const DROP_LOG_INTERVAL_MS = 10_000;
/** Config blobs never change under their digest; this bounds the cache on a store of many models. */
const MAX_CACHED_DETAILS = 8192;

export interface ClusterComponents {
  nodeId: string;
  config: NodeConfig;
  logger: Logger;
  transport: Transport;
  storage: ModelStore;
  engine: Engine;
  load: LoadWindow;
  /** Its address and cluster id go out with every announcement. */
  consensus?: Consensus;
}

export interface ClusterWiring {
  /** The API's bound base URL, once it listens (after every unit started). */
  apiUrl(): string | undefined;
  modelChanges: ModelChanges;
}

const modelsKey = (models: AnnouncedModel[]) => JSON.stringify(models.map((m) => [m.name, m.digest, m.modified_at, m.size]));
const loadedKey = (models: AnnouncedLoadedModel[]) => JSON.stringify(models.map((m) => [m.name, m.digest]));

export class Cluster implements ClusterView, Startable {
  private membership: Membership | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribes: (() => void)[] = [];
  private tick: NodeJS.Timeout | undefined;
  private announceTimer: NodeJS.Timeout | undefined;
  private welcomeTimer: NodeJS.Timeout | undefined;
  private joinedAt = 0;
  private seq = 0;
  private drained = false;
  private announcing = false;
  /** Set once the join window passed; from then on a taken name is logged, not thrown. */
  private joined = false;
  private leaving = false;
  private gossip = false;
  private apiUrl: string;
  private models: AnnouncedModel[] = [];
  private loadedModels: AnnouncedLoadedModel[] = [];
  private gpus: AnnouncedGpu[] = [];
  private diskFree: number | undefined;
  /** Model listings run one after another, so the last one always saw the last change. */
  private listing: Promise<void> = Promise.resolve();
  private listingQueued = false;
  private readonly details = new Map<string, ModelDetails>();
  private readonly drops = new DropLog(DROP_LOG_INTERVAL_MS);
  private readonly foreignPeers = new Set<string>();
  private readonly refusedRivals = new Set<string>();
  private excludedLogged = false;
  private cutLogged = false;

  constructor(
    private readonly c: ClusterComponents,
    private readonly wiring: ClusterWiring,
  ) {
    const scheme = c.config.security.tls.enabled ? 'https' : 'http';
    this.apiUrl = c.config.api.advertise || `${scheme}://${c.config.api.listen}`;
  }

  async start(): Promise<void> {
    if (this.membership) return;
    const { transport, config, logger } = this.c;
    this.joinedAt = Date.now();
    await Promise.all([this.listModels(), this.readGpus(), this.readDisk()]);
    this.loadedModels = runningModels(this.c.engine);
    this.membership = new Membership(this.announcement(), Date.now());
    try {
      this.unsubscribes.push(transport.subscribe(ANNOUNCE_TOPIC, this.onMessage));
      this.gossip = true;
    } catch (error) {
      logger.warn({ err: error, enable_pubsub: config.p2p.enable_pubsub }, 'no gossip on this node: it neither announces itself nor sees the other members');
    }
    this.unsubscribes.push(transport.onPeerEvent(this.onPeerEvent));
    this.unsubscribes.push(this.wiring.modelChanges.listen(() => this.refreshModels()));
    this.tick = setInterval(this.onTick, EXPIRE_TICK_MS);
  }

  /** Runs once the API listens: announces its real URL, then listens for a name already taken. */
  async afterStart(): Promise<void> {
    if (!this.membership || this.announcing) return;
    const { config, logger } = this.c;
    const bound = this.wiring.apiUrl() ?? this.apiUrl;
    const choice = announcedApiUrl({ advertise: config.api.advertise, listen: config.api.listen, bound, interfaces: networkInterfaces() });
    this.apiUrl = choice.url;
    logger.info({ apiUrl: choice.url, source: choice.source }, 'announcing this node to the cluster');
    if (!this.gossip) return;
    this.announcing = true;
    await this.publish();
    this.announceTimer = setInterval(() => void this.announce(), ANNOUNCE_INTERVAL_MS);
    await this.awaitJoin();
  }

  /** Says goodbye: peers take this node out of their routing pool at once. Idempotent. */
  async leave(): Promise<void> {
    if (this.leaving || !this.membership) return;
    this.leaving = true;
    clearInterval(this.announceTimer);
    clearTimeout(this.welcomeTimer);
    if (!this.announcing) return;
    await this.publish();
    if (this.c.transport.peers().length > 0) await sleep(GOODBYE_RELAY_MS);
  }

  async stop(): Promise<void> {
    if (!this.membership) return;
    await this.leave();
    clearInterval(this.tick);
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    await this.listing;
    this.announcing = false;
  }

  private started(): Membership {
    if (!this.membership) throw new ProductError('OD_ERR_INTERNAL', 'the cluster view is not started');
    return this.membership;
  }

  self(): Member {
    return this.started().self();
  }

  members(): Member[] {
    return this.started().members();
  }

  member(idOrName: string): Member | undefined {
    return this.started().member(idOrName);
  }

  holders(name: string): Member[] {
    return this.started().holders(name);
  }

  conflicts(): DigestConflict[] {
    return this.started().conflicts();
  }

  async setDrained(drained: boolean): Promise<void> {
    this.drained = drained;
    await this.selfChanged();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.c.logger.error({ err: error }, 'a cluster change listener threw');
      }
    }
  }

  private announcement(): NodeAnnouncement {
    const { nodeId, config, transport, engine, load } = this.c;
    const inFlight = engine.loaded().reduce((sum, model) => sum + model.activeRequests, 0);
    const recent = load.snapshot(performance.now());
    const announcement: NodeAnnouncement = {
      protocol: CLUSTER_PROTOCOL_VERSION,
      id: nodeId,
      peerId: transport.peerId,
      name: config.node.name,
      apiUrl: this.apiUrl,
      version: PRODUCT_VERSION,
      engine: engine.name,
      gpus: this.gpus,
      models: this.models,
      loaded: this.loadedModels,
      load: {
        inFlight,
        queued: Math.max(0, recent.running - inFlight),
        ttftMs: recent.ttftMs,
        tokensPerSecond: recent.tokensPerSecond,
        slots: config.engine.num_parallel,
        promptTokensPerSecond: recent.promptTokensPerSecond,
        loadBytesPerSecond: recent.loadBytesPerSecond,
      },
      drained: this.drained,
      joinedAt: this.joinedAt,
      seq: this.seq,
    };
    if (this.leaving) announcement.leaving = true;
    if (this.diskFree !== undefined) announcement.diskFree = this.diskFree;
    const consensusAddress = this.c.consensus?.address();
    if (consensusAddress) announcement.consensus = { address: consensusAddress, clusterId: this.c.consensus!.clusterId() ?? null };
    return announcement;
  }

  /** Publishes this node's announcement now; a failed publish waits for the next round. */
  private async publish(): Promise<void> {
    this.seq += 1;
    const announcement = this.announcement();
    if (this.started().setSelf(announcement, Date.now())) this.emit();
    const { bytes, cut } = fitAnnouncement(announcement);
    if (cut > 0 && !this.cutLogged) {
      this.cutLogged = true;
      this.c.logger.warn({ models: announcement.models.length, announced: announcement.models.length - cut }, 'too many models to announce: peers see only the newest');
    }
    try {
      await this.c.transport.publish(ANNOUNCE_TOPIC, bytes);
    } catch (error) {
      if (this.drops.drop('publish', Date.now())) this.c.logger.debug({ err: error }, 'announcement not published');
    }
  }

  private async selfChanged(): Promise<void> {
    if (this.announcing && !this.leaving) await this.publish();
    else if (this.membership?.setSelf(this.announcement(), Date.now())) this.emit();
  }

  private async announce(): Promise<void> {
    if (this.leaving) return;
    if (!this.listingQueued) void this.refreshModels();
    await Promise.all([this.listing, this.readGpus(), this.readDisk()]);
    if (!this.leaving) await this.publish();
  }

  /** Lists the store's models after any listing under way; announces at once when they changed. */
  private refreshModels(): Promise<void> {
    this.listingQueued = true;
    this.listing = this.listing.then(async () => {
      this.listingQueued = false;
      const before = modelsKey(this.models);
      await this.listModels();
      if (modelsKey(this.models) !== before) await this.selfChanged();
    });
    return this.listing;
  }

  private async listModels(): Promise<void> {
    try {
      this.models = await taggedModels(this.c.storage, this.cachedDetails);
    } catch (error) {
      this.c.logger.warn({ err: error }, 'could not list the models to announce; announcing the last list');
    }
  }

  private readonly cachedDetails: DetailsReader = async (store, model) => {
    const key = model.manifest.config.digest;
    const known = this.details.get(key);
    if (known) return known;
    const details = await modelDetails(store, model);
    if (this.details.size >= MAX_CACHED_DETAILS) this.details.clear();
    this.details.set(key, details);
    return details;
  };

  private async readGpus(): Promise<void> {
    try {
      this.gpus = (await this.c.engine.gpus()).map(({ name, backend, vramTotal, vramFree }) => ({ name, backend, vramTotal, vramFree }));
    } catch (error) {
      this.c.logger.debug({ err: error }, 'could not read the GPUs to announce');
    }
  }

  /** The placement planner puts copies only where they fit. */
  private async readDisk(): Promise<void> {
    try {
      const stats = await statfs(this.c.config.storage.model_dir);
      this.diskFree = stats.bavail * stats.bsize;
    } catch (error) {
      this.c.logger.debug({ err: error }, 'could not read the free disk space to announce');
    }
  }

  private readonly onTick = () => {
    const membership = this.membership;
    if (!membership) return;
    if (membership.expire(Date.now(), this.c.config.p2p.failure_timeout)) this.emit();
    const loaded = runningModels(this.c.engine);
    if (loadedKey(loaded) === loadedKey(this.loadedModels)) {
      this.loadedModels = loaded;
      return;
    }
    this.loadedModels = loaded;
    void this.selfChanged();
  };

  private readonly onPeerEvent = (event: PeerEvent) => {
    if (event.type === 'disconnected') {
      if (this.membership?.peerDisconnected(event.peerId)) this.emit();
      return;
    }
    if (!this.announcing || this.leaving || this.welcomeTimer) return;
    this.welcomeTimer = setTimeout(() => {
      this.welcomeTimer = undefined;
      if (this.announcing && !this.leaving) void this.publish();
    }, WELCOME_DELAY_MS);
  };

  private readonly onMessage = (message: GossipMessage) => {
    const membership = this.membership;
    if (!membership) return;
    const { logger } = this.c;
    const now = Date.now();
    const decoded = decodeAnnouncement(message.data);
    if (!decoded.ok) {
      if (decoded.protocol !== undefined) {
        if (this.foreignPeers.has(message.from)) return;
        this.foreignPeers.add(message.from);
        logger.error(
          { peer: message.from, protocol: decoded.protocol, ours: CLUSTER_PROTOCOL_VERSION },
          `refusing peer ${message.from}: it speaks cluster protocol ${decoded.protocol} and this node speaks ${CLUSTER_PROTOCOL_VERSION}; upgrade the nodes to versions that speak one protocol`,
        );
        return;
      }
      this.dropped(message.from, decoded.reason, now);
      return;
    }
    const observation = membership.observe(decoded.announcement, message.from, now);
    if (observation === 'spoofed') this.dropped(message.from, `it speaks for peer ${decoded.announcement.peerId}`, now);
    else if (observation === 'own-id') this.dropped(message.from, `it claims this node's id ${decoded.announcement.id} (a copied data dir?)`, now);
    else if (observation === 'joined' || observation === 'changed') {
      this.logNameRefusals(membership);
      this.emit();
    }
  };

  private dropped(peerId: string, reason: string, now: number): void {
    const count = this.drops.drop(peerId, now);
    if (count !== undefined) this.c.logger.warn({ peer: peerId, dropped: count }, `dropped an announcement from peer ${peerId}: ${reason}`);
  }

  private logNameRefusals(membership: Membership): void {
    const self = membership.self();
    for (const member of membership.members()) {
      if (member.nameTakenBy !== self.id || this.refusedRivals.has(member.id)) continue;
      this.refusedRivals.add(member.id);
      this.c.logger.warn(
        { rival: member.id, apiUrl: member.apiUrl, name: member.name },
        `refused node ${member.id} at ${member.apiUrl}: the node name '${member.name}' is this node's, which joined first`,
      );
    }
    if (self.nameTakenBy && !this.excludedLogged && this.joined) {
      this.excludedLogged = true;
      const owner = membership.member(self.nameTakenBy);
      this.c.logger.error(
        { owner: self.nameTakenBy, apiUrl: owner?.apiUrl },
        `node name '${self.name}' is taken by node ${self.nameTakenBy} at ${owner?.apiUrl}, which joined first: the cluster routes nothing here until this node restarts under another name`,
      );
    }
  }

  /** The node name already taken by a member that joined earlier, as the error a start fails with. */
  private nameTaken(): ProductError | undefined {
    const membership = this.started();
    const self = membership.self();
    if (!self.nameTakenBy) return undefined;
    const owner = membership.member(self.nameTakenBy);
    return new ProductError(
      'OD_ERR_NODE_NAME_TAKEN',
      `node name '${self.name}' is already taken by node ${self.nameTakenBy} at ${owner?.apiUrl}; choose another with --node-name or OLLAMA_NODE_NAME`,
    );
  }

  /**
   * A node that bootstraps listens until it has heard every peer it is connected to and then one
   * more round (members it reaches only through them), at most JOIN_WINDOW_MS; the first node of
   * a cluster has no one to hear.
   */
  private async awaitJoin(): Promise<void> {
    const { transport, config } = this.c;
    if (config.p2p.bootstrap.length === 0 && transport.peers().length === 0) {
      this.joined = true;
      return;
    }
    const deadline = Date.now() + JOIN_WINDOW_MS;
    let heardAllAt: number | undefined;
    while (Date.now() < deadline && !this.leaving) {
      const taken = this.nameTaken();
      if (taken) throw taken;
      const peers = transport.peers();
      const heard = new Set(this.members().map((m) => m.peerId));
      if (peers.length > 0 && peers.every((p) => heard.has(p.peerId))) {
        heardAllAt ??= Date.now();
        if (Date.now() - heardAllAt >= ANNOUNCE_INTERVAL_MS) break;
      }
      await sleep(50);
    }
    const taken = this.nameTaken();
    if (taken) throw taken;
    this.joined = true;
  }
}
