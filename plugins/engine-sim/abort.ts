// Abortable waiting on the wall clock. Every wait of the simulator goes through here, so an aborted
// request or a stopping engine always surfaces as an AbortError.

import { setTimeout as delay } from 'node:timers/promises';
import { abortError } from '../../core/abort.js';

/**
 * Resolves at `deadline` (a `performance.now()` time). Pacing against deadlines instead of chaining
 * delays keeps timer lateness from adding up over a long stream.
 */
export async function sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortError(signal);
  // Timers count from the event loop's cached time and can fire a fraction of a ms early.
  for (let wait = deadline - performance.now(); wait > 0; wait = deadline - performance.now()) {
    try {
      await delay(wait, undefined, { signal });
    } catch (error) {
      throw signal.aborted ? abortError(signal) : error;
    }
  }
}
