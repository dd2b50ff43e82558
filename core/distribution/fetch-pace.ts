// Caps the bytes a node fetches per second across all its copies: every chunk request first takes
// its bytes from the one pacer, which spaces requests out at the current rate (0 sets no cap).

import { setTimeout as delay } from 'node:timers/promises';

export class FetchPace {
  #rate: number;
  /** When the bytes reserved so far have been paid for at the rate. */
  #paidUntil = 0;
  readonly #now: () => number;

  constructor(rate: number, now: () => number = Date.now) {
    this.#rate = rate;
    this.#now = now;
  }

  /** Bytes per second; 0 when uncapped. */
  get rate(): number {
    return this.#rate;
  }

  set rate(rate: number) {
    this.#rate = Math.max(0, rate);
  }

  /** How long until the bytes taken so far are paid for; a fetch asks for no further chunk before. */
  waitMs(): number {
    return this.#rate <= 0 ? 0 : Math.max(0, this.#paidUntil - this.#now());
  }

  /**
   * Waits until `bytes` more fit under the rate. No burst: a request waits for its own bytes'
   * time too, so fetching N bytes takes at least N / rate seconds, however they are split.
   */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.#rate <= 0) return;
    const now = this.#now();
    this.#paidUntil = Math.max(now, this.#paidUntil) + (bytes * 1000) / this.#rate;
    await delay(this.#paidUntil - now, undefined, signal ? { signal } : {});
  }
}
