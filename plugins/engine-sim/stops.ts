// Stop strings over a token stream, applied as Ollama's runner does: text that may still grow into
// a stop string is held back, and when one appears the output ends just before it.

export class StopFilter {
  private pending = '';
  private readonly stops: readonly string[];

  constructor(stops: readonly string[] = []) {
    this.stops = stops.filter((stop) => stop.length > 0);
  }

  /** The text safe to emit once `text` arrives, and whether a stop string ended the output. */
  push(text: string): { text: string; stopped: boolean } {
    this.pending += text;
    const cut = this.stops.reduce((first, stop) => {
      const at = this.pending.indexOf(stop);
      return at >= 0 && (first < 0 || at < first) ? at : first;
    }, -1);
    if (cut >= 0) {
      const before = this.pending.slice(0, cut);
      this.pending = '';
      return { text: before, stopped: true };
    }
    const keep = this.partialStopLength();
    const ready = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { text: ready, stopped: false };
  }

  /** Releases what was held back, when the output ends for another reason. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  /** Length of the longest end of the pending text that begins some stop string. */
  private partialStopLength(): number {
    const longest = Math.max(0, ...this.stops.map((stop) => stop.length - 1));
    for (let length = Math.min(this.pending.length, longest); length > 0; length--) {
      const tail = this.pending.slice(-length);
      if (this.stops.some((stop) => stop.startsWith(tail))) return length;
    }
    return 0;
  }
}
