// On every node: follows the agreed placements. A placement that names this node and a model whose
// agreed digest it does not hold starts a copy (one per model, retried with back-off while no holder
// answers, cancelled when the placement drops the node or the model goes); a held copy is reported.

import type { ClusterState } from '../cluster/state-machine.js';
import type { Consensus } from '../contracts/consensus.js';
import type { Startable } from '../contracts/plugin.js';
import type { ModelStore } from '../contracts/storage.js';
import type { Logger } from '../log.js';
import { parseModelName } from '../models/name.js';
import type { ModelCopier } from './model-copy.js';
import { sameDigest } from './placement-input.js';

export interface PlacementFollowComponents {
  nodeId: string;
  consensus: Pick<Consensus<ClusterState>, 'state' | 'watch' | 'propose'>;
  store: Pick<ModelStore, 'getModel'>;
  copier: Pick<ModelCopier, 'copy'>;
  logger: Logger;
}

export interface PlacementFollowOptions {
  /** The first wait after a failed copy; each further failure doubles it up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** Placements change by consensus events; this catches a copy whose retry was the only thing pending. */
const RECHECK_MS = 10_000;

/** Model name → agreed digest, for every model whose placement names `nodeId`. */
export function placedOn(state: ClusterState, nodeId: string): Map<string, string> {
  const placed = new Map<string, string>();
  for (const [model, nodes] of Object.entries(state.placements)) {
    const record = state.models[model];
    if (record && nodes.includes(nodeId)) placed.set(model, record.digest);
  }
  return placed;
}

/** The wait before the attempt after `failures` failed ones. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}

export class PlacementFollower implements Startable {
  readonly #c: PlacementFollowComponents;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  /** Model → the follow under way for its agreed digest. */
  readonly #following = new Map<string, { digest: string; controller: AbortController; done: Promise<void> }>();
  #unwatch: (() => void) | undefined;
  #interval: NodeJS.Timeout | undefined;

  constructor(components: PlacementFollowComponents, options: PlacementFollowOptions = {}) {
    this.#c = components;
    this.#backoffMs = options.backoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  start(): void {
    if (this.#unwatch) return;
    this.#unwatch = this.#c.consensus.watch((event) => (event.type === 'applied' ? this.#sync() : undefined));
    this.#interval = setInterval(() => this.#sync(), RECHECK_MS);
    this.#sync();
  }

  async stop(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = undefined;
    clearInterval(this.#interval);
    const following = [...this.#following.values()];
    this.#following.clear();
    for (const { controller } of following) controller.abort(new Error('the node is stopping'));
    await Promise.allSettled(following.map((f) => f.done));
  }

  #sync(): void {
    if (!this.#unwatch) return;
    const placed = placedOn(this.#c.consensus.state().state, this.#c.nodeId);
    for (const [model, follow] of this.#following) {
      if (placed.get(model) === follow.digest) continue;
      follow.controller.abort(new Error(`the placement of '${model}' no longer names this node`));
      this.#following.delete(model);
    }
    for (const [model, digest] of placed) {
      if (this.#following.has(model)) continue;
      const controller = new AbortController();
      const follow = { digest, controller, done: Promise.resolve() };
      follow.done = this.#follow(model, digest, controller.signal).finally(() => {
        if (this.#following.get(model) === follow) this.#following.delete(model);
      });
      this.#following.set(model, follow);
    }
  }

  /** Until this node holds `digest` of `model` and consensus lists it as a replica, or the signal ends it. */
  async #follow(model: string, digest: string, signal: AbortSignal): Promise<void> {
    const { store, copier, logger } = this.#c;
    for (let failures = 0; !signal.aborted; ) {
      try {
        const held = await store.getModel(parseModelName(model), signal);
        if (held && sameDigest(held.digest, digest)) return await this.#report(model, digest);
        logger.info({ model, digest }, 'placed on this node; copying it');
        const copied = await copier.copy(model, signal);
        if (!sameDigest(copied.digest, digest)) throw new Error(`the holders of '${model}' sent ${copied.digest}, not the agreed ${digest}`);
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        const wait = backoffDelay(failures, this.#backoffMs, this.#maxBackoffMs);
        logger.warn({ model, err: error, retryInMs: wait }, 'placed model not copied; trying again');
        await sleep(wait, signal);
      }
    }
  }

  /** A copy held here but not listed among the replicas (the copy's own report lost, or copied before) is reported. */
  async #report(model: string, digest: string): Promise<void> {
    const { consensus, nodeId, logger } = this.#c;
    if (consensus.state().state.replicas[model]?.includes(nodeId)) return;
    const { result } = await consensus.propose({ type: 'replica.report', payload: { model, node: nodeId, present: true, digest } });
    if (result && typeof result === 'object' && 'error' in result) logger.warn({ model, error: result.error }, 'replica not recorded');
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
