// The node's model distribution unit: the chunk hasher's workers, the chunk server, DHT provider
// records for every complete blob here (at start and whenever the model list changes), the copier,
// the follower that copies here the models the agreed placements name this node for, the preloader
// that keeps them loaded (distribution.preload), and the pace its copies fetch at:
// distribution.max_rate, cut while its own inference slows (serving-first.ts).

import type { LoadWindow } from '../cluster/load-window.js';
import type { ModelChanges } from '../cluster/model-changes.js';
import type { ClusterState } from '../cluster/state-machine.js';
import type { ClusterView } from '../cluster/types.js';
import type { Engine } from '../contracts/engine.js';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import type { Transport } from '../contracts/transport.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Logger } from '../log.js';
import { ChunkServer } from './chunk-server.js';
import { FetchPace } from './fetch-pace.js';
import { chunkHasher, type ChunkHasher } from './hasher.js';
import { ModelCopier } from './model-copy.js';
import { PlacementFollower } from './placement-follow.js';
import { Preloader } from './preload.js';
import { copyRate, nextBaseline, type ServingBaseline } from './serving-first.js';
import { Transfers } from './transfers.js';

export interface DistributionComponents {
  transport: Transport;
  store: ModelStore;
  cluster: ClusterView;
  consensus: Consensus<ClusterState>;
  logger: Logger;
  nodeId: string;
  modelChanges: ModelChanges;
  load: Pick<LoadWindow, 'snapshot'>;
  engine: Pick<Engine, 'load' | 'unload' | 'loaded'>;
}

export interface DistributionOptions {
  /** Chunk hasher threads: scheduler.worker_count. */
  hashThreads: number;
  /** Bytes per second the node fetches across its copies: distribution.max_rate (0: no cap). */
  maxRate: number;
  /** distribution.preload: keep the models placed here loaded. */
  preload: boolean;
}

/** How often the copies' pace is set again from the inference figures. */
const PACE_INTERVAL_MS = 2000;

export class Distribution implements Startable {
  readonly transfers = new Transfers();
  readonly pace: FetchPace;
  /** The copy route and the placement follower call it. */
  readonly copier: ModelCopier;
  readonly follower: PlacementFollower;
  readonly #preloader: Preloader | undefined;
  readonly #c: DistributionComponents;
  readonly #hasher: ChunkHasher;
  readonly #server: ChunkServer;
  /** Digests announced on the DHT in this run. */
  readonly #provided = new Set<string>();
  readonly #maxRate: number;
  #baseline: ServingBaseline | undefined;
  #pacing: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #stopping = new AbortController();

  constructor(components: DistributionComponents, options: DistributionOptions) {
    this.#c = components;
    const logger = components.logger.child({ unit: 'distribution' });
    this.#hasher = chunkHasher({ threads: options.hashThreads });
    this.#server = new ChunkServer({ transport: components.transport, store: components.store, hasher: this.#hasher, logger });
    this.#maxRate = options.maxRate;
    this.pace = new FetchPace(options.maxRate);
    this.copier = new ModelCopier({ ...components, logger, hasher: this.#hasher, server: this.#server, transfers: this.transfers, pace: this.pace });
    this.follower = new PlacementFollower({ ...components, copier: this.copier, logger });
    if (options.preload) this.#preloader = new Preloader({ ...components, logger });
  }

  start(): void {
    this.#stopping = new AbortController();
    this.#hasher.start();
    this.#server.start();
    this.#unlisten = this.#c.modelChanges.listen(async () => void this.#announce());
    void this.#announce();
    this.follower.start();
    this.#preloader?.start();
    this.#pacing = setInterval(() => this.#repace(), PACE_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    this.#stopping.abort(new Error('the node is stopping'));
    this.#unlisten?.();
    clearInterval(this.#pacing);
    await this.#preloader?.stop();
    await this.follower.stop();
    this.#server.stop();
    await this.copier.close();
    await this.#hasher.stop();
  }

  /** Sets the copies' rate from this node's inference figures against their baseline. */
  #repace(): void {
    const figures = this.#c.load.snapshot(performance.now());
    const copying = this.transfers.entries().filter((entry) => entry.state === 'copying');
    this.#baseline = nextBaseline(this.#baseline, figures, copying.length > 0);
    const fetchedRate = copying.reduce((sum, entry) => sum + entry.speed, 0);
    const rate = copyRate({ cap: this.#maxRate, current: this.pace.rate, fetchedRate, figures, baseline: this.#baseline });
    if (rate === this.pace.rate) return;
    this.#c.logger.info({ rate, was: this.pace.rate, ttftMs: figures.ttftMs, tokensPerSecond: figures.tokensPerSecond }, rate === this.#maxRate ? 'copies back to full rate' : 'inference slowed; copies slow down');
    this.pace.rate = rate;
  }

  /** Announces every blob of the store's models not announced yet; a failed announcement is tried again next time. */
  async #announce(): Promise<void> {
    const { store, transport, logger } = this.#c;
    const signal = this.#stopping.signal;
    try {
      const digests = new Set((await store.listModels(signal)).flatMap((m) => [m.manifest.config, ...m.manifest.layers].map((d) => d.digest)));
      for (const digest of digests) {
        if (this.#provided.has(digest) || signal.aborted) continue;
        this.#provided.add(digest);
        await transport.provide(digest, signal).catch((error: unknown) => {
          this.#provided.delete(digest);
          logger.debug({ digest, err: error }, 'could not announce a blob on the DHT');
        });
      }
    } catch (error) {
      if (!signal.aborted) logger.warn({ err: error }, 'could not list the blobs to announce');
    }
  }
}
