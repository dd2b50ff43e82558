// A loaded model's parallel slots (llama.cpp sequences): one request per slot, the rest wait in
// arrival order. A free slot whose cache already holds the request's prefix is preferred.

interface Waiter<T> {
  resolve(item: T): void;
  reject(reason: unknown): void;
}

export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiting: Waiter<T>[] = [];
  private closed: Error | undefined;

  constructor(items: readonly T[]) {
    this.free = [...items];
  }

  /** Waits for a slot; `score` ranks free slots (highest wins), e.g. by cached prefix length. */
  take(signal: AbortSignal, score?: (item: T) => number): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free.length > 0 && this.waiting.length === 0) {
      let best = 0;
      if (score) {
        const scores = this.free.map(score);
        best = scores.indexOf(Math.max(...scores));
      }
      return Promise.resolve(this.free.splice(best, 1)[0]!);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal.reason);
      };
      const waiter: Waiter<T> = {
        resolve: (item) => {
          signal.removeEventListener('abort', onAbort);
          resolve(item);
        },
        reject: (reason) => {
          signal.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.waiting.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  give(item: T): void {
    const next = this.waiting.shift();
    if (next) next.resolve(item);
    else this.free.push(item);
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  close(reason: Error): void {
    this.closed = reason;
    for (const waiter of this.waiting.splice(0)) waiter.reject(reason);
  }
}
