// Which models are loaded: loads on first use, unloads keep_alive after the last request ends, and
// holds at most `capacity` models, unloading the least recently used idle one to make room.

export interface Resident {
  dispose(): Promise<void>;
}

export interface AcquireRequest<R> {
  name: string;
  /** What the loaded model was built from (file, context length, adapters); a different one reloads. */
  fingerprint: string;
  /** Applied when this request ends: 0 unloads at once, negative never expires. */
  keepAliveMs: number;
  load(): Promise<R>;
  signal: AbortSignal;
}

export interface Lease<R> {
  resident: R;
  /** Nanoseconds this request spent loading the model; 0 when it was already loaded. */
  loadDuration: number;
  /** Ends this request's use of the model; idempotent. */
  release(): Promise<void>;
}

export interface ResidentView<R> {
  name: string;
  resident: R;
  activeRequests: number;
  /** Epoch milliseconds; Infinity when it never expires. */
  expiresAt: number;
}

interface Entry<R> {
  name: string;
  fingerprint: string;
  resident?: R;
  loading?: Promise<R>;
  unloading?: Promise<void>;
  /** Set by unload(): new requests wait until it is gone. */
  draining: boolean;
  active: number;
  lastUsed: number;
  expiresAt: number;
  timer?: NodeJS.Timeout;
}

export interface ResidencyOptions {
  capacity(): number;
  onUnloadError(name: string, error: unknown): void;
  now?(): number;
}

/** The longest delay setTimeout takes (2^31 - 1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ResidencyClosedError extends Error {
  override name = 'ResidencyClosedError';
  constructor() {
    super('the engine is stopped');
  }
}

export class Residency<R extends Resident> {
  private readonly entries = new Map<string, Entry<R>>();
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ResidencyOptions) {
    this.now = options.now ?? Date.now;
  }

  async acquire(request: AcquireRequest<R>): Promise<Lease<R>> {
    for (;;) {
      if (this.closed) throw new ResidencyClosedError();
      request.signal.throwIfAborted();
      const entry = this.entries.get(request.name);
      if (entry) {
        const busy = entry.active > 0 || entry.loading !== undefined;
        if (entry.unloading || entry.draining || (entry.fingerprint !== request.fingerprint && busy)) {
          await this.change(request.signal);
        } else if (entry.fingerprint !== request.fingerprint) {
          await this.evict(entry);
        } else {
          return this.join(entry, request);
        }
        continue;
      }
      if (this.entries.size < this.options.capacity()) return this.loadNew(request);
      const victim = this.leastRecentlyUsedIdle();
      if (victim) await this.evict(victim);
      else await this.change(request.signal);
    }
  }

  /** Unloads `name` once its running requests end; new requests for it wait and then reload it. */
  async unload(name: string, signal?: AbortSignal): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return;
    entry.draining = true;
    try {
      while (entry.active > 0 || entry.loading) await this.change(signal);
    } catch (error) {
      entry.draining = false;
      throw error;
    }
    await this.evict(entry);
  }

  /**
   * Until `fits()`, unloads idle models other than `name` (least recently used first) and waits for
   * busy ones to go idle. False when nothing is left that could make room.
   */
  async makeRoom(name: string, fits: () => Promise<boolean>, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (await fits()) return true;
      const victim = this.leastRecentlyUsedIdle();
      if (victim) await this.evict(victim);
      else if ([...this.entries.values()].some((e) => e.name !== name && e.active > 0 && !e.loading)) await this.change(signal);
      else return false;
    }
  }

  *residents(): Generator<ResidentView<R>> {
    for (const entry of this.entries.values()) {
      if (!entry.resident || entry.unloading) continue;
      yield { name: entry.name, resident: entry.resident, activeRequests: entry.active, expiresAt: entry.expiresAt };
    }
  }

  /** Unloads everything; requests still running get `graceMs` to end before their model goes. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    this.notify();
    const grace = new AbortController();
    const timer = setTimeout(() => grace.abort(), graceMs);
    try {
      while (!grace.signal.aborted && [...this.entries.values()].some((e) => e.active > 0)) await this.change(grace.signal, true);
    } finally {
      clearTimeout(timer);
    }
    await Promise.all([...this.entries.values()].map((entry) => this.evict(entry)));
  }

  private async join(entry: Entry<R>, request: AcquireRequest<R>): Promise<Lease<R>> {
    entry.active++;
    this.keepUntil(entry, request.keepAliveMs);
    let resident: R;
    try {
      resident = entry.resident ?? (await entry.loading!);
    } catch (error) {
      entry.active--;
      throw error;
    }
    return this.leased(entry, resident, request, 0);
  }

  private async loadNew(request: AcquireRequest<R>): Promise<Lease<R>> {
    const started = process.hrtime.bigint();
    const loading = request.load();
    const entry: Entry<R> = {
      name: request.name,
      fingerprint: request.fingerprint,
      draining: false,
      active: 1,
      lastUsed: this.now(),
      expiresAt: Infinity,
      loading,
    };
    this.keepUntil(entry, request.keepAliveMs);
    this.entries.set(request.name, entry);
    let resident: R;
    try {
      resident = entry.resident = await loading;
    } catch (error) {
      this.entries.delete(request.name);
      this.notify();
      throw error;
    } finally {
      entry.loading = undefined;
    }
    this.notify();
    return this.leased(entry, resident, request, Number(process.hrtime.bigint() - started));
  }

  private async leased(entry: Entry<R>, resident: R, request: AcquireRequest<R>, loadDuration: number): Promise<Lease<R>> {
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      entry.active--;
      entry.lastUsed = this.now();
      if (entry.active > 0) return;
      if (entry.draining || request.keepAliveMs === 0 || this.closed) {
        await this.evict(entry);
        return;
      }
      this.keepUntil(entry, request.keepAliveMs);
      if (request.keepAliveMs > 0) this.expireAfter(entry, request.keepAliveMs);
      this.notify();
    };
    if (request.signal.aborted) {
      await release();
      request.signal.throwIfAborted();
    }
    return { resident, loadDuration, release };
  }

  /** setTimeout fires at once past MAX_TIMER_MS: a longer keep_alive waits in steps. */
  private expireAfter(entry: Entry<R>, ms: number): void {
    const step = Math.min(ms, MAX_TIMER_MS);
    entry.timer = setTimeout(() => (ms > step ? this.expireAfter(entry, ms - step) : void this.evict(entry)), step);
  }

  private keepUntil(entry: Entry<R>, keepAliveMs: number): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.expiresAt = keepAliveMs < 0 ? Infinity : this.now() + keepAliveMs;
  }

  private leastRecentlyUsedIdle(): Entry<R> | undefined {
    let victim: Entry<R> | undefined;
    for (const entry of this.entries.values()) {
      if (entry.active > 0 || entry.loading || entry.unloading) continue;
      if (!victim || entry.lastUsed < victim.lastUsed) victim = entry;
    }
    return victim;
  }

  private evict(entry: Entry<R>): Promise<void> {
    entry.unloading ??= (async () => {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      try {
        const resident = entry.resident ?? (await entry.loading?.catch(() => undefined));
        await resident?.dispose();
      } catch (error) {
        this.options.onUnloadError(entry.name, error);
      } finally {
        if (this.entries.get(entry.name) === entry) this.entries.delete(entry.name);
        this.notify();
      }
    })();
    return entry.unloading;
  }

  /** Resolves on the next load, release or unload; `quiet` turns an abort into a plain return. */
  private change(signal?: AbortSignal, quiet = false): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(done);
        if (quiet) resolve();
        else reject(signal!.reason);
      };
      if (signal?.aborted) return onAbort();
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
