// Cancellation helpers every plugin shares: the one error a cancelled call surfaces as (an
// AbortError), signals joined without leaking listeners, timeouts and abortable waits.

export function abortError(signal: AbortSignal): DOMException {
  return new DOMException('the operation was aborted', { name: 'AbortError', cause: signal.reason });
}

/**
 * One signal that fires when any of `signals` does, or when `controller` aborts; `unlink` removes
 * the listeners. AbortSignal.any would leave a listener on a plugin's long-lived stop signal for
 * every request.
 */
export function linkSignals(...signals: AbortSignal[]): { signal: AbortSignal; controller: AbortController; unlink(): void } {
  const controller = new AbortController();
  const aborted = signals.find((source) => source.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, controller, unlink: () => {} };
  }
  const removers = signals.map((source) => {
    const onAbort = () => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    return () => source.removeEventListener('abort', onAbort);
  });
  return { signal: controller.signal, controller, unlink: () => removers.forEach((remove) => remove()) };
}

/** Runs `call` with a signal that also aborts after `ms`; the timer never outlives the call. */
export async function withTimeout<T>(ms: number, call: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  const linked = linkSignals(timeout.signal, ...(signal ? [signal] : []));
  try {
    return await call(linked.signal);
  } finally {
    clearTimeout(timer);
    linked.unlink();
  }
}

/** `promise`'s outcome, or an AbortError as soon as `signal` aborts (the promise runs on). */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** `events` as they come until `signal` aborts: what a run produces after an abort never reaches the caller. */
export async function* untilAborted<T>(events: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  for await (const event of events) {
    if (signal.aborted) throw abortError(signal);
    yield event;
  }
}
