// With distribution.preload on, a node keeps the models placed on it loaded, so no request waits
// for a load: once it holds a placed model's agreed digest the engine loads it to stay (keep_alive
// -1); a load that will expire (a request's own keep_alive replaced this one) is made again, and
// a model it loaded whose placement no longer names the node is unloaded. A failed load (too
// little memory, say) is tried again after a pause, not on every change.

import type { ClusterState } from '../cluster/state-machine.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Engine, LoadedModel } from '../contracts/engine.js';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore, StoredModel } from '../contracts/storage.js';
import type { Logger } from '../log.js';
import { FOREVER } from '../api/ollama/keep-alive.js';
import { parseModelName } from '../models/name.js';
import { modelSpec } from '../models/spec.js';
import { placedOn } from './placement-follow.js';
import { sameDigest } from './placement-input.js';

/** A load that expires later than this from now was made to stay. */
const STAYS_MS = 365 * 24 * 3600 * 1000;
/** Placements change by consensus events; this catches a load a request shortened, or one to retry. */
const RECHECK_MS = 10_000;
const RETRY_AFTER_MS = 60_000;

export interface PreloadInput {
  /** Placed on this node and held here under the agreed digest. */
  placedHere: ReadonlySet<string>;
  loaded: readonly Pick<LoadedModel, 'name' | 'expiresAt'>[];
  /** Models this node loaded because they were placed here. */
  preloaded: ReadonlySet<string>;
  now: number;
}

/** What to load to stay, and what to unload. Pure. */
export function preloadChanges({ placedHere, loaded, preloaded, now }: PreloadInput): { load: string[]; unload: string[] } {
  const staying = new Set(loaded.filter((m) => m.expiresAt.getTime() - now > STAYS_MS).map((m) => m.name));
  const resident = new Set(loaded.map((m) => m.name));
  return {
    load: [...placedHere].filter((name) => !staying.has(name)).sort(),
    unload: [...preloaded].filter((name) => !placedHere.has(name) && resident.has(name)).sort(),
  };
}

export interface PreloaderComponents {
  nodeId: string;
  consensus: Pick<Consensus<ClusterState>, 'state' | 'watch'>;
  store: ModelStore;
  engine: Pick<Engine, 'load' | 'unload' | 'loaded'>;
  logger: Logger;
}

export class Preloader implements Startable {
  readonly #c: PreloaderComponents;
  readonly #preloaded = new Set<string>();
  /** Model → when its last load failed. */
  readonly #failedAt = new Map<string, number>();
  readonly #stopping = new AbortController();
  #running: Promise<void> | undefined;
  #again = false;
  #unwatch: (() => void) | undefined;
  #interval: NodeJS.Timeout | undefined;

  constructor(components: PreloaderComponents) {
    this.#c = components;
  }

  start(): void {
    if (this.#unwatch) return;
    this.#unwatch = this.#c.consensus.watch((event) => (event.type === 'applied' ? this.#schedule() : undefined));
    this.#interval = setInterval(this.#schedule, RECHECK_MS);
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    clearInterval(this.#interval);
    this.#stopping.abort(new Error('the node is stopping'));
    await this.#running;
  }

  readonly #schedule = (): void => {
    if (!this.#unwatch) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#sync().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.#schedule();
      }
    });
  };

  async #sync(): Promise<void> {
    const { consensus, nodeId, store, engine, logger } = this.#c;
    const signal = this.#stopping.signal;
    /** Placed here and held under the agreed digest. */
    const placedHere = new Map<string, StoredModel>();
    for (const [model, digest] of placedOn(consensus.state().state, nodeId)) {
      const held = await store.getModel(parseModelName(model), signal).catch(() => undefined);
      if (held && sameDigest(held.digest, digest)) placedHere.set(model, held);
    }
    const now = Date.now();
    const { load, unload } = preloadChanges({ placedHere: new Set(placedHere.keys()), loaded: engine.loaded(), preloaded: this.#preloaded, now });
    for (const model of this.#preloaded) if (!placedHere.has(model)) this.#preloaded.delete(model);
    for (const model of unload) {
      await engine.unload(model, signal).catch((error: unknown) => logger.warn({ model, err: error }, 'a model no longer placed here was not unloaded'));
      logger.info({ model }, 'unloaded: no longer placed on this node');
    }
    for (const model of load) {
      if (signal.aborted || now - (this.#failedAt.get(model) ?? -Infinity) < RETRY_AFTER_MS) continue;
      try {
        await engine.load(await modelSpec(store, placedHere.get(model)!), FOREVER, signal);
        this.#preloaded.add(model);
        this.#failedAt.delete(model);
        logger.info({ model }, 'loaded: placed on this node (distribution.preload)');
      } catch (error) {
        if (signal.aborted) return;
        this.#failedAt.set(model, now);
        logger.warn({ model, err: error, retryInMs: RETRY_AFTER_MS }, 'a model placed here could not be loaded; trying again later');
      }
    }
  }
}
