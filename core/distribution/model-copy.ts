// Copies a whole model (manifest, config, layers) from the peers holding it to this node's store,
// blob by blob through the chunk protocol, then names it and reports the replica to consensus.
// The copy route and the placement loop both call `copy`.

import type { ClusterState } from '../cluster/state-machine.js';
import type { ClusterView } from '../cluster/types.js';
import type { Consensus } from '../contracts/consensus.js';
import type { ModelStore, StoredModel } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import { ProductError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Manifest } from '../models/manifest.js';
import { formatModelName, parseModelName } from '../models/name.js';
import { membersHolding } from '../api/forward/holders.js';
import { fetchBlob } from './blob-fetch.js';
import { requestManifest } from './chunk-client.js';
import type { FetchPace } from './fetch-pace.js';
import type { ChunkServer } from './chunk-server.js';
import type { ChunkHasher } from './hasher.js';
import { Transfer, type Transfers } from './transfers.js';

export interface ModelCopyComponents {
  transport: Pick<Transport, 'peerId' | 'openStream' | 'findProviders' | 'provide'>;
  store: ModelStore;
  hasher: Pick<ChunkHasher, 'verifyChunk'>;
  server: Pick<ChunkServer, 'offer' | 'withdraw'>;
  cluster: Pick<ClusterView, 'members' | 'member'>;
  consensus: Pick<Consensus<ClusterState>, 'state' | 'propose'>;
  transfers: Transfers;
  /** Shared by every copy of the node: distribution.max_rate, lowered while inference slows. */
  pace?: FetchPace;
  logger: Logger;
  nodeId: string;
}

export interface ModelCopyOptions {
  /** How long a DHT lookup of a blob's providers may take before the copy goes on with what it found. */
  findProvidersMs?: number;
  /** Providers taken from one lookup. */
  maxProviders?: number;
}

/** A holder that does not send a manifest in this time is passed over for the next. */
const MANIFEST_TIMEOUT_MS = 10_000;

export class ModelCopier {
  readonly #c: ModelCopyComponents;
  readonly #options: Required<ModelCopyOptions>;
  readonly #copies = new Map<string, Promise<StoredModel>>();
  /** One fetch per blob at a time, shared by models that name the same blob. */
  readonly #blobs = new Map<string, Promise<void>>();
  #closing = new AbortController();

  constructor(components: ModelCopyComponents, options: ModelCopyOptions = {}) {
    this.#c = components;
    this.#options = { findProvidersMs: 3000, maxProviders: 16, ...options };
  }

  /**
   * Copies `model` here from the nodes holding it, unless this node holds it already; resolves with
   * the stored model once its manifest is written. A second call for a model being copied joins the first.
   */
  copy(model: string, signal?: AbortSignal): Promise<StoredModel> {
    const name = formatModelName(parseModelName(model));
    let copying = this.#copies.get(name);
    if (!copying) {
      const stopped = this.#closing.signal;
      copying = this.#copy(name, signal ? AbortSignal.any([signal, stopped]) : stopped).finally(() => this.#copies.delete(name));
      this.#copies.set(name, copying);
    }
    return copying;
  }

  /** Stops every copy, each keeping its verified chunks for a later one, and resolves once all have ended. */
  async close(): Promise<void> {
    this.#closing.abort(new ProductError('OD_ERR_INTERNAL', 'the node is stopping'));
    await Promise.allSettled([...this.#copies.values()]);
    this.#closing = new AbortController();
  }

  /** Peer ids of other nodes that hold `name`, by the cluster view and the consensus replicas. */
  modelHolders(name: string): string[] {
    const { cluster, consensus, transport } = this.#c;
    const peers = membersHolding(cluster.members(), name).map((m) => m.peerId);
    for (const id of consensus.state().state.replicas[name] ?? []) {
      const member = cluster.member(id);
      if (member?.healthy) peers.push(member.peerId);
    }
    return [...new Set(peers)].filter((peer) => peer !== transport.peerId);
  }

  async #copy(name: string, signal?: AbortSignal): Promise<StoredModel> {
    const { store, logger, transfers } = this.#c;
    const holders = this.modelHolders(name);
    const manifest = await this.#manifest(name, holders, signal);
    const existing = await store.getModel(parseModelName(name), signal);
    if (existing && sameBlobs(existing.manifest, manifest)) return existing;

    const transfer = new Transfer(name);
    const descriptors = [manifest.config, ...manifest.layers];
    transfer.plan(
      await Promise.all(
        descriptors.map(async (d) => {
          const here = (await store.hasBlob(d.digest)) ? d.size : 0;
          return { digest: d.digest, total: d.size, done: here, kept: here };
        }),
      ),
    );
    transfers.add(transfer);
    logger.info({ model: name, holders: holders.length }, 'copying a model from its holders');
    try {
      for (const descriptor of descriptors) {
        if (await store.hasBlob(descriptor.digest)) continue;
        await this.#blob(name, descriptor.digest, descriptor.size, holders, transfer, signal);
      }
      const stored = await store.putManifest(parseModelName(name), manifest, signal);
      transfer.finish();
      logger.info({ model: name, digest: stored.digest }, 'model copied');
      await this.#report(name, stored.digest);
      return stored;
    } catch (error) {
      transfer.finish(error);
      logger.warn({ model: name, err: error }, 'model copy failed');
      throw error;
    }
  }

  async #manifest(name: string, holders: string[], signal?: AbortSignal): Promise<Manifest> {
    if (holders.length === 0) throw new ProductError('OD_ERR_MODEL_NOT_FOUND', `no other node holds model '${name}'`);
    const errors: string[] = [];
    for (const peer of holders) {
      try {
        return await requestManifest(this.#c.transport, peer, name, AbortSignal.any([AbortSignal.timeout(MANIFEST_TIMEOUT_MS), ...(signal ? [signal] : [])]));
      } catch (error) {
        signal?.throwIfAborted();
        errors.push((error as Error).message);
      }
    }
    throw new ProductError('OD_ERR_MODEL_NOT_FOUND', `no holder of '${name}' sent its manifest: ${errors.join('; ')}`);
  }

  #blob(name: string, digest: string, size: number, modelHolders: string[], transfer: Transfer, signal?: AbortSignal): Promise<void> {
    let fetching = this.#blobs.get(digest);
    if (!fetching) {
      fetching = (async () => {
        // With holders known from the view the fetch starts at once; the DHT's providers join it as fetchBlob finds them.
        const holders = modelHolders.length > 0 ? modelHolders : await this.#providers(digest, signal);
        const names = (peers: string[]) => peers.map((peer) => this.#c.cluster.members().find((m) => m.peerId === peer)?.name ?? peer);
        // Others may fetch the chunks verified here while the copy runs, so this node is a provider from the start.
        this.#c.transport.provide(digest, signal).catch((error: unknown) => this.#c.logger.debug({ digest, err: error }, 'could not announce a blob'));
        // Held, a pull of the same blob waits for the copy, and no collection takes it before its manifest is written.
        const hold = await this.#c.store.holdBlob(digest, signal);
        try {
          if (!(await this.#c.store.hasBlob(digest))) {
            await fetchBlob({
              transport: this.#c.transport,
              hasher: this.#c.hasher,
              logger: this.#c.logger,
              path: hold.path,
              digest,
              size,
              holders,
              findHolders: async (lookup) => [...this.modelHolders(name), ...(await this.#providers(digest, lookup))],
              server: this.#c.server,
              ...(this.#c.pace ? { pace: this.#c.pace } : {}),
              signal,
              onProgress: (p) => transfer.progress({ digest, done: p.done, kept: p.kept, fetched: p.fetched, holders: names(p.holders) }),
            });
          }
          hold.claim();
        } finally {
          hold.release();
        }
      })().finally(() => this.#blobs.delete(digest));
      this.#blobs.set(digest, fetching);
    }
    return fetching;
  }

  /** DHT providers of a blob found within findProvidersMs; none when the lookup fails. */
  async #providers(digest: string, signal?: AbortSignal): Promise<string[]> {
    const found: string[] = [];
    const lookup = AbortSignal.any([AbortSignal.timeout(this.#options.findProvidersMs), ...(signal ? [signal] : [])]);
    try {
      for await (const provider of this.#c.transport.findProviders(digest, lookup)) {
        if (provider.peerId !== this.#c.transport.peerId) found.push(provider.peerId);
        if (found.length >= this.#options.maxProviders) break;
      }
    } catch (error) {
      signal?.throwIfAborted();
      this.#c.logger.debug({ digest, err: error }, 'provider lookup ended early');
    }
    return found;
  }

  /** The replica is a fact only for a model the cluster tracks; for another one there is nothing to record. */
  async #report(name: string, digest: string): Promise<void> {
    const { consensus, nodeId, logger } = this.#c;
    if (!consensus.state().state.models[name]) return;
    try {
      const { result } = await consensus.propose({ type: 'replica.report', payload: { model: name, node: nodeId, present: true, digest } });
      if (result && typeof result === 'object' && 'error' in result) logger.warn({ model: name, error: result.error }, 'replica not recorded');
    } catch (error) {
      logger.warn({ model: name, err: error }, 'replica not reported');
    }
  }
}

function sameBlobs(a: Manifest, b: Manifest): boolean {
  const digests = (m: Manifest) => [m.config, ...m.layers].map((d) => d.digest).join(' ');
  return digests(a) === digests(b);
}
