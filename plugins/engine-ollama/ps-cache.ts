// What the daemon has loaded, for loaded() to answer synchronously: /api/ps kept in a cache that is
// refreshed after requests and on a timer, with the requests running through this engine counted here.

import { setTimeout as delay } from 'node:timers/promises';
import type { LoadedModel, ModelDetails, ModelSpec } from '../../core/contracts/engine.js';
import type { Logger } from '../../core/log.js';
import { modelKey } from './mapping.js';
import { OLLAMA_DEFAULT_CONTEXT } from './memory.js';

export interface PsModel {
  name: string;
  digest?: string;
  size?: number;
  size_vram?: number;
  expires_at?: string;
  context_length?: number;
  details?: ModelDetails;
}

export interface LoadedModelsOptions {
  /** GET /api/ps's models, bounded in time by the caller. */
  fetch(): Promise<PsModel[]>;
  /** The spec this engine ran under a daemon name: its digest is the one the cluster knows. */
  specOf(name: string): ModelSpec | undefined;
  logger: Logger;
}

const POLL_MS = 50;
const NO_DETAILS: ModelDetails = { parent_model: '', format: '', family: '', families: null, parameter_size: '', quantization_level: '' };

const bytes = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.round(value) : 0);

export class LoadedModels {
  private models: PsModel[] = [];
  /** Refreshes started and the newest one applied: a slow older answer never overwrites a newer one. */
  private requested = 0;
  private applied = 0;
  private readonly active = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closed = false;

  constructor(private readonly options: LoadedModelsOptions) {}

  /** Refreshes every `intervalMs` until close(). */
  open(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      void this.refresh().finally(() => (this.ticking = false));
    }, intervalMs);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.models = [];
  }

  /** A request on `name` started running through this engine. */
  begin(name: string): void {
    const key = modelKey(name);
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
  }

  end(name: string): void {
    const key = modelKey(name);
    const left = (this.active.get(key) ?? 1) - 1;
    if (left > 0) this.active.set(key, left);
    else this.active.delete(key);
  }

  includes(name: string): boolean {
    const key = modelKey(name);
    return this.models.some((model) => modelKey(model.name) === key);
  }

  /** Fetches /api/ps; a failure keeps the last known state (and is only logged). */
  async refresh(): Promise<void> {
    const ticket = ++this.requested;
    try {
      const models = await this.options.fetch();
      if (ticket > this.applied && !this.closed) {
        this.applied = ticket;
        this.models = models.filter((model) => typeof model?.name === 'string');
      }
    } catch (error) {
      this.options.logger.debug({ err: error }, 'reading /api/ps from the Ollama daemon failed');
    }
  }

  /** Refreshes until the daemon no longer lists `name`, for at most `withinMs`; true once it is gone. */
  async untilGone(name: string, withinMs: number, signal: AbortSignal): Promise<boolean> {
    const deadline = performance.now() + withinMs;
    for (;;) {
      await this.refresh();
      if (!this.includes(name)) return true;
      if (signal.aborted || performance.now() >= deadline) return false;
      await delay(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  list(): LoadedModel[] {
    return this.models.map((model) => {
      const spec = this.options.specOf(model.name);
      const size = bytes(model.size);
      const expiresAt = Date.parse(model.expires_at ?? '');
      return {
        name: spec?.name ?? model.name,
        digest: spec?.digest ?? `sha256:${(model.digest ?? '').replace(/^sha256:/, '')}`,
        size,
        sizeVram: Math.min(size, bytes(model.size_vram)),
        // Older Ollama versions leave context_length out of /api/ps.
        contextLength: bytes(model.context_length) || OLLAMA_DEFAULT_CONTEXT,
        expiresAt: new Date(Number.isFinite(expiresAt) ? expiresAt : Date.now()),
        details: model.details ?? spec?.details ?? NO_DETAILS,
        activeRequests: this.active.get(modelKey(model.name)) ?? 0,
      };
    });
  }

  /** Bytes of VRAM the daemon's loaded models hold. */
  vramInUse(): number {
    return this.list().reduce((sum, model) => sum + model.sizeVram, 0);
  }
}
