// A loaded model's parallel slots (num_parallel). A request beyond them waits, in arrival order,
// until a slot frees; a waiter whose signal aborts leaves the line.

import { abortError } from '../../core/abort.js';

interface Waiter {
  grant(): void;
}

export class Slots {
  private readonly line: Waiter[] = [];
  private busyCount = 0;

  constructor(private readonly count: number) {}

  /** Slots running a request now. */
  get busy(): number {
    return this.busyCount;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.line.length;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    if (this.busyCount < this.count && this.line.length === 0) {
      this.busyCount++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.line.splice(this.line.indexOf(waiter), 1);
        reject(abortError(signal));
      };
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.line.push(waiter);
    });
  }

  /** Hands the slot to the longest waiter, or frees it. */
  release(): void {
    const next = this.line.shift();
    if (next) next.grant();
    else this.busyCount--;
  }
}
