// Cuts generated text before the first stop string. While streaming, text that could be the start of
// a stop string is held back, so nothing at or after a stop string ever reaches the client.

export interface StopScan {
  /** Text that is safe to send now. */
  text: string;
  stopped: boolean;
}

/** One-shot form: the text before the earliest stop string, and whether one was found. */
export function cutAtStop(text: string, stops: readonly string[]): StopScan {
  let cut = -1;
  for (const stop of stops) {
    if (stop === '') continue;
    const at = text.indexOf(stop);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

/** Length of the longest end of `text` that is a proper start of some stop string. */
export function heldBackLength(text: string, stops: readonly string[]): number {
  let held = 0;
  for (const stop of stops) {
    for (let length = Math.min(stop.length - 1, text.length); length > held; length--) {
      if (text.endsWith(stop.slice(0, length))) {
        held = length;
        break;
      }
    }
  }
  return held;
}

/** Streaming form: feed chunks as they are generated, then `flush()` what was held back at the end. */
export class StopStringCutter {
  private held = '';
  private done = false;
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((stop) => stop !== '');
  }

  get stopped(): boolean {
    return this.done;
  }

  push(chunk: string): StopScan {
    if (this.done) return { text: '', stopped: true };
    const text = this.held + chunk;
    const found = cutAtStop(text, this.stops);
    if (found.stopped) {
      this.held = '';
      this.done = true;
      return found;
    }
    const hold = heldBackLength(text, this.stops);
    this.held = text.slice(text.length - hold);
    return { text: text.slice(0, text.length - hold), stopped: false };
  }

  /** The held-back text once generation ended without completing a stop string. */
  flush(): string {
    const rest = this.done ? '' : this.held;
    this.held = '';
    return rest;
  }
}
