// One AbortSignal that fires when any of several does, with listeners removed afterwards.
// AbortSignal.any would hold a listener on the engine's long-lived signal for every request.

export function linkSignals(...signals: AbortSignal[]): { signal: AbortSignal; unlink(): void } {
  const controller = new AbortController();
  const aborted = signals.find((s) => s.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, unlink: () => {} };
  }
  const listeners = signals.map((source) => {
    const onAbort = () => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    return () => source.removeEventListener('abort', onAbort);
  });
  return { signal: controller.signal, unlink: () => listeners.forEach((remove) => remove()) };
}
