// What this node is copying from its peers, for GET /api/v1/transfers: each model copy with its
// bytes, speed, time left, holders and state. Finished copies stay listed for a while.

export type TransferState = 'copying' | 'done' | 'failed';

export interface BlobTransfer {
  digest: string;
  total: number;
  /** Verified bytes, those kept from before a restart included. */
  done: number;
  /** Bytes already here when this copy began: a complete blob, or chunks verified before a restart. */
  kept: number;
}

export interface TransferEntry {
  model: string;
  /** The blob being copied now, or the last one copied. */
  digest: string | undefined;
  state: TransferState;
  total: number;
  done: number;
  /** Bytes already here when this copy began (blobs, and chunks verified before a restart). */
  kept: number;
  /** Bytes received from peers by this copy, since it started on this run of the node (a chunk fetched twice counts twice). */
  fetched: number;
  /** Bytes per second over the last few seconds. */
  speed: number;
  /** Seconds left at the current speed; null while unknown. */
  eta_seconds: number | null;
  /** Node names (or peer ids of peers not yet in the view) asked for chunks. */
  holders: string[];
  blobs: BlobTransfer[];
  started_at: string;
  finished_at: string | null;
  error?: string;
}

const SPEED_WINDOW_MS = 5000;
/** Finished copies listed, newest first kept. */
const KEEP_FINISHED = 32;

/** One model copy's record; the copier updates it as chunks arrive. */
export class Transfer {
  readonly model: string;
  readonly #blobs = new Map<string, BlobTransfer>();
  readonly #fetchedByBlob = new Map<string, number>();
  readonly #samples: { at: number; fetched: number }[] = [];
  readonly #startedAt: number;
  readonly #now: () => number;
  #digest: string | undefined;
  #holders: string[] = [];
  #state: TransferState = 'copying';
  #finishedAt: number | undefined;
  #error: string | undefined;

  constructor(model: string, now: () => number = Date.now) {
    this.model = model;
    this.#now = now;
    this.#startedAt = now();
  }

  get state(): TransferState {
    return this.#state;
  }

  /** The blobs the copy needs, with what is already here. */
  plan(blobs: readonly BlobTransfer[]): void {
    for (const blob of blobs) this.#blobs.set(blob.digest, { ...blob });
  }

  progress(update: { digest: string; done: number; kept: number; fetched: number; holders: string[] }): void {
    const blob = this.#blobs.get(update.digest);
    if (blob) {
      blob.done = update.done;
      blob.kept = update.kept;
    }
    this.#digest = update.digest;
    this.#holders = update.holders;
    this.#fetchedByBlob.set(update.digest, update.fetched);
    this.#sample();
  }

  finish(error?: unknown): void {
    this.#state = error === undefined ? 'done' : 'failed';
    this.#error = error === undefined ? undefined : (error as Error).message;
    if (error === undefined) for (const blob of this.#blobs.values()) blob.done = blob.total;
    this.#finishedAt = this.#now();
  }

  entry(): TransferEntry {
    const blobs = [...this.#blobs.values()].map((blob) => ({ ...blob }));
    const total = blobs.reduce((sum, blob) => sum + blob.total, 0);
    const done = blobs.reduce((sum, blob) => sum + blob.done, 0);
    const kept = blobs.reduce((sum, blob) => sum + blob.kept, 0);
    const speed = this.#state === 'copying' ? this.#speed() : 0;
    return {
      model: this.model,
      digest: this.#digest,
      state: this.#state,
      total,
      done,
      kept,
      fetched: this.#fetched(),
      speed: Math.round(speed),
      eta_seconds: this.#state === 'done' ? 0 : speed > 0 ? Math.ceil((total - done) / speed) : null,
      holders: [...this.#holders],
      blobs,
      started_at: new Date(this.#startedAt).toISOString(),
      finished_at: this.#finishedAt === undefined ? null : new Date(this.#finishedAt).toISOString(),
      ...(this.#error === undefined ? {} : { error: this.#error }),
    };
  }

  #fetched(): number {
    let sum = 0;
    for (const fetched of this.#fetchedByBlob.values()) sum += fetched;
    return sum;
  }

  #sample(): void {
    const at = this.#now();
    this.#samples.push({ at, fetched: this.#fetched() });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > SPEED_WINDOW_MS) this.#samples.shift();
  }

  #speed(): number {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.at === first.at) return 0;
    return ((last.fetched - first.fetched) * 1000) / (last.at - first.at);
  }
}

/** Every copy of this run of the node: the running ones, and the last finished ones. */
export class Transfers {
  readonly #all: Transfer[] = [];

  add(transfer: Transfer): void {
    this.#all.push(transfer);
    const finished = this.#all.filter((t) => t.state !== 'copying');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.#all.splice(this.#all.indexOf(old), 1);
  }

  entries(): TransferEntry[] {
    return this.#all.map((t) => t.entry());
  }
}
