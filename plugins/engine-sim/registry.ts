// The models loaded on a simulated node: loads (after evicting idle models when the cap or VRAM is
// short), who is using each, and unloading keep_alive after a model's last request.

import type { LoadedModel, MemoryEstimate, ModelSpec } from '../../core/contracts/engine.js';
import type { Logger } from '../../core/log.js';
import { abortError, unlessAborted } from '../../core/abort.js';
import { sleepUntil } from './abort.js';
import type { GpuInventory } from './gpus.js';
import type { SimOptions } from './options.js';
import { PromptCache } from './prompt-cache.js';
import { Slots } from './slots.js';
import { loadMs } from './timing.js';

/** What /api/ps shows for a model that never expires. */
const FOREVER = new Date(Date.UTC(9999, 11, 31));

export interface LoadedEntry {
  readonly spec: ModelSpec;
  readonly memory: MemoryEstimate;
  /** VRAM reserved on each GPU. */
  readonly reserved: readonly number[];
  readonly contextLength: number;
  readonly slots: Slots;
  readonly cache: PromptCache;
  /** Settles when the load finishes; rejects only when the engine stops first. */
  readonly ready: Promise<void>;
  /** The load's length, and the `performance.now()` at which it finishes. */
  readonly loadMs: number;
  readonly readyAt: number;
  readonly gone: Promise<void>;
  markGone(): void;
  isLoaded: boolean;
  /** Requests holding the model: waiting for a slot or running. */
  users: number;
  lastUsed: number;
  keepAliveMs: number;
  expiresAt: Date;
  expiry?: NodeJS.Timeout;
  unloadWhenIdle: boolean;
}

export interface RegistrySettings {
  options: SimOptions;
  numParallel: number;
  maxLoadedModels: number;
  inventory: GpuInventory;
  /** Aborts when the engine stops: it ends loads in progress. */
  stopSignal: AbortSignal;
  logger: Logger;
}

const expiryDate = (keepAliveMs: number) => (keepAliveMs < 0 ? FOREVER : new Date(Date.now() + keepAliveMs));

export class ModelRegistry {
  private readonly models = new Map<string, LoadedEntry>();
  /** Loads waiting for a model to go idle or unload. */
  private waiters: (() => void)[] = [];
  private useCount = 0;

  constructor(private readonly settings: RegistrySettings) {}

  /**
   * The model, loaded, with one more user; `loadMs` is how long this caller waited for its load.
   * The caller must `release` it.
   */
  async acquire(
    spec: ModelSpec,
    shape: { memory: MemoryEstimate; contextLength: number },
    keepAliveMs: number,
    signal: AbortSignal,
  ): Promise<{ entry: LoadedEntry; loadMs: number }> {
    let entry = this.models.get(spec.name);
    let started = false;
    while (!entry) {
      if (signal.aborted) throw abortError(signal);
      const reserved = this.makeRoom(shape.memory.vram);
      if (reserved) [entry, started] = [this.startLoad(spec, shape, reserved), true];
      else {
        await this.changed(signal);
        entry = this.models.get(spec.name);
      }
    }
    this.use(entry, keepAliveMs);
    const waited = started ? entry.loadMs : Math.max(0, entry.readyAt - performance.now());
    try {
      await unlessAborted(entry.ready, signal);
    } catch (error) {
      this.release(entry, keepAliveMs);
      throw error;
    }
    return { entry, loadMs: waited };
  }

  /** Ends one use; the model's keep_alive counts from the last one. */
  release(entry: LoadedEntry, keepAliveMs: number): void {
    if (this.models.get(entry.spec.name) !== entry) return;
    entry.users--;
    entry.keepAliveMs = keepAliveMs;
    entry.expiresAt = expiryDate(keepAliveMs);
    if (entry.users === 0 && entry.isLoaded) this.becameIdle(entry);
  }

  /** Unloads `name` once its running requests end; no-op when it is not loaded. */
  async unload(name: string, signal?: AbortSignal): Promise<void> {
    const entry = this.models.get(name);
    if (!entry) return;
    if (entry.users === 0 && entry.isLoaded) return this.unloadNow(entry, 'unloaded');
    entry.unloadWhenIdle = true;
    await (signal ? unlessAborted(entry.gone, signal) : entry.gone);
  }

  list(): LoadedModel[] {
    return [...this.models.values()]
      .filter((entry) => entry.isLoaded)
      .map((entry) => ({
        name: entry.spec.name,
        digest: entry.spec.digest,
        size: entry.memory.total,
        sizeVram: entry.reserved.reduce((sum, part) => sum + part, 0),
        contextLength: entry.contextLength,
        expiresAt: entry.expiresAt,
        details: entry.spec.details,
        activeRequests: entry.slots.busy,
      }));
  }

  /** Drops every model at once, for engine stop. */
  clear(): void {
    for (const entry of [...this.models.values()]) this.unloadNow(entry, 'engine stopped');
  }

  /** VRAM reserved for a new model, after evicting idle models as needed; undefined when it must wait. */
  private makeRoom(vram: number): number[] | undefined {
    for (;;) {
      const reserved = this.models.size < this.settings.maxLoadedModels ? this.settings.inventory.reserve(vram) : undefined;
      if (reserved) return reserved;
      const idle = [...this.models.values()]
        .filter((entry) => entry.users === 0 && entry.isLoaded)
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) return undefined;
      this.unloadNow(idle, 'evicted');
    }
  }

  private startLoad(spec: ModelSpec, shape: { memory: MemoryEstimate; contextLength: number }, reserved: number[]): LoadedEntry {
    const { options, numParallel, stopSignal, logger } = this.settings;
    const loadTime = loadMs(spec.modelSize, options);
    const readyAt = performance.now() + loadTime;
    let markGone!: () => void;
    const entry: LoadedEntry = {
      spec,
      memory: shape.memory,
      reserved,
      contextLength: shape.contextLength,
      slots: new Slots(numParallel),
      cache: new PromptCache(options.prompt_cache ? numParallel : 0),
      ready: sleepUntil(readyAt, stopSignal),
      loadMs: loadTime,
      readyAt,
      gone: new Promise<void>((resolve) => (markGone = resolve)),
      markGone,
      isLoaded: false,
      users: 0,
      lastUsed: 0,
      keepAliveMs: 0,
      expiresAt: FOREVER,
      unloadWhenIdle: false,
    };
    this.models.set(spec.name, entry);
    logger.debug({ model: spec.name, vram: reserved }, 'sim engine loading model');
    entry.ready.then(
      () => {
        entry.isLoaded = true;
        if (entry.users === 0) this.becameIdle(entry);
      },
      () => undefined,
    );
    return entry;
  }

  private use(entry: LoadedEntry, keepAliveMs: number): void {
    clearTimeout(entry.expiry);
    entry.users++;
    entry.lastUsed = ++this.useCount;
    entry.keepAliveMs = keepAliveMs;
    entry.expiresAt = expiryDate(keepAliveMs);
  }

  private becameIdle(entry: LoadedEntry): void {
    if (entry.keepAliveMs === 0 || entry.unloadWhenIdle) return this.unloadNow(entry, 'keep_alive ended');
    if (entry.keepAliveMs > 0) {
      // The expiry alone must not keep a process alive: a node has sockets for that.
      entry.expiry = setTimeout(() => this.unloadNow(entry, 'keep_alive ended'), entry.keepAliveMs).unref();
    }
    this.notify();
  }

  private unloadNow(entry: LoadedEntry, why: string): void {
    if (this.models.get(entry.spec.name) !== entry) return;
    clearTimeout(entry.expiry);
    this.models.delete(entry.spec.name);
    this.settings.inventory.release(entry.reserved);
    entry.markGone();
    this.settings.logger.debug({ model: entry.spec.name, why }, 'sim engine unloaded model');
    this.notify();
  }

  private changed(signal: AbortSignal): Promise<void> {
    return unlessAborted(new Promise<void>((resolve) => this.waiters.push(resolve)), signal);
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
