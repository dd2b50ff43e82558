// In-process exclusive locks keyed by an absolute path: one blob writer per digest, one manifest
// mutation at a time. Keys are shared across store instances on the same root.

const held = new Map<string, Promise<void>>();

export type Release = () => void;

/** Waits until no one holds `key`, then holds it until the returned function is called. */
export async function acquireLock(key: string, signal?: AbortSignal): Promise<Release> {
  for (;;) {
    signal?.throwIfAborted();
    const current = held.get(key);
    if (!current) break;
    await untilSettledOrAborted(current, signal);
  }
  return hold(key);
}

/** Holds `key` when no one does; undefined when someone does. */
export function tryAcquireLock(key: string): Release | undefined {
  return held.has(key) ? undefined : hold(key);
}

function hold(key: string): Release {
  let release!: () => void;
  held.set(key, new Promise<void>((resolve) => (release = resolve)));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.delete(key);
    release();
  };
}

/** Runs `work` while holding `key`. */
export async function withLock<T>(key: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const release = await acquireLock(key, signal);
  try {
    return await work();
  } finally {
    release();
  }
}

function untilSettledOrAborted(current: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return current;
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void current.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
