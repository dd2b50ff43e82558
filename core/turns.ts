// Long loops on the main thread, a slice at a time: the event loop gets a turn between slices, so
// one request with a huge list or text cannot stall every other request the node serves.

import { setImmediate as nextTurn } from 'node:timers/promises';

/** Longest stretch of synchronous work between two turns of the event loop. */
const TURN_MS = 5;

/** Yields to the event loop once a loop of small synchronous steps has run for a while. */
export class Pacer {
  private since = performance.now();

  async pace(signal?: AbortSignal): Promise<void> {
    if (performance.now() - this.since < TURN_MS) return;
    await nextTurn();
    signal?.throwIfAborted();
    this.since = performance.now();
  }
}

/** `items.map(map)`, yielding between slices. */
export async function mapInTurns<T, U>(items: readonly T[], map: (item: T) => U): Promise<U[]> {
  const pacer = new Pacer();
  const mapped: U[] = [];
  for (const item of items) {
    await pacer.pace();
    mapped.push(map(item));
  }
  return mapped;
}
