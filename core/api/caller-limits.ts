// Per-caller limits on this node: a request rate (a token bucket refilled over a minute) and a cap
// on requests in flight, for each identity a valid credential proves (a key, a token's subject).
// Pure bookkeeping over a clock the caller passes; the API server turns a refusal into a 429.

export interface CallerLimitSettings {
  /** Requests a minute, bursts up to as many at once; 0: no rate limit. */
  ratePerMinute: number;
  /** Requests one caller may have running at once; 0: no cap. */
  maxInFlight: number;
  /** Callers tracked at once; past it the one seen least recently is forgotten. */
  maxCallers?: number;
}

export type Admission = { admitted: true; release: () => void } | { admitted: false; reason: string; retryAfterS: number };

interface Caller {
  tokens: number;
  refilledAt: number;
  inFlight: number;
}

const DEFAULT_MAX_CALLERS = 10_000;

export class CallerLimits {
  private readonly callers = new Map<string, Caller>();

  constructor(private readonly settings: CallerLimitSettings) {}

  get enabled(): boolean {
    return this.settings.ratePerMinute > 0 || this.settings.maxInFlight > 0;
  }

  admit(caller: string, now: number): Admission {
    const { ratePerMinute, maxInFlight } = this.settings;
    const state = this.stateOf(caller, now);
    if (ratePerMinute > 0) {
      state.tokens = Math.min(ratePerMinute, state.tokens + ((now - state.refilledAt) * ratePerMinute) / 60_000);
      state.refilledAt = now;
      if (state.tokens < 1) {
        const waitMs = Math.round(((1 - state.tokens) * 60_000) / ratePerMinute);
        const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
        return { admitted: false, reason: `rate limit exceeded: at most ${ratePerMinute} requests a minute`, retryAfterS };
      }
    }
    if (maxInFlight > 0 && state.inFlight >= maxInFlight) {
      return { admitted: false, reason: `too many requests in flight: at most ${maxInFlight} at once`, retryAfterS: 1 };
    }
    if (ratePerMinute > 0) state.tokens -= 1;
    state.inFlight += 1;
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        state.inFlight -= 1;
      },
    };
  }

  /** Callers tracked now, for tests and metrics. */
  get size(): number {
    return this.callers.size;
  }

  private stateOf(caller: string, now: number): Caller {
    let state = this.callers.get(caller);
    if (state) {
      // Most recently seen last, so the first entry is the one to forget.
      this.callers.delete(caller);
    } else {
      state = { tokens: this.settings.ratePerMinute, refilledAt: now, inFlight: 0 };
      const max = this.settings.maxCallers ?? DEFAULT_MAX_CALLERS;
      for (const [id, held] of this.callers) {
        if (this.callers.size < max) break;
        // A caller with requests running keeps its count: forgetting it would lift its cap.
        if (held.inFlight === 0) this.callers.delete(id);
      }
    }
    this.callers.set(caller, state);
    return state;
  }
}
