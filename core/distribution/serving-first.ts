// Serving comes first: the rate a node's copies may fetch at, from its own inference figures
// against their recent baseline. Halved (down to a floor) while time to first token or the token
// rate per run worsen, back to distribution.max_rate once inference is idle or near its baseline.
// Pure: the figures come in, the rate goes out; Distribution reads the load window and applies it.

import { MIB } from './chunk-map.js';

/** The slowest copies go while inference suffers: one 8 MiB chunk every two seconds. */
export const FLOOR_RATE = 4 * MIB;
/** Inference this much worse than its baseline slows copies down. */
export const SLOWED = 1.5;
/** Inference within this of its baseline lets copies run at full rate again. */
export const RECOVERED = 1.1;
/** Weight of the newest figures in the baseline. */
const BASELINE_WEIGHT = 0.2;

/** What the load window says of inference here now. */
export interface ServingFigures {
  /** Runs under way. */
  running: number;
  /** Median time to first token, ms; 0 with no run in the window. */
  ttftMs: number;
  tokensPerSecond: number;
}

export interface ServingBaseline {
  ttftMs: number;
  /** Tokens per second per run under way. */
  tokenRate: number;
}

export interface CopyRateInput {
  /** distribution.max_rate; 0 for none. */
  cap: number;
  /** The rate copies fetch at now; 0 for none. */
  current: number;
  /** Bytes per second the copies fetched lately, the base of a first cut when there is no cap. */
  fetchedRate: number;
  figures: ServingFigures;
  baseline: ServingBaseline | undefined;
}

const tokenRate = (figures: ServingFigures) => (figures.running > 0 ? figures.tokensPerSecond / figures.running : 0);

/** How much worse inference is than its baseline: 1 is the same, 2 twice as slow; 1 with nothing to compare. */
export function slowdown(figures: ServingFigures, baseline: ServingBaseline | undefined): number {
  if (!baseline || figures.running === 0 || figures.ttftMs === 0) return 1;
  const ttft = baseline.ttftMs > 0 ? figures.ttftMs / baseline.ttftMs : 1;
  const rate = tokenRate(figures);
  const tokens = baseline.tokenRate > 0 && rate > 0 ? baseline.tokenRate / rate : 1;
  return Math.max(ttft, tokens);
}

/** The rate copies may fetch at next. */
export function copyRate({ cap, current, fetchedRate, figures, baseline }: CopyRateInput): number {
  const worse = slowdown(figures, baseline);
  if (figures.running === 0 || worse <= RECOVERED) return cap;
  if (worse < SLOWED) return current;
  const from = current > 0 ? current : fetchedRate;
  if (from <= 0) return current;
  const halved = Math.max(FLOOR_RATE, Math.round(from / 2));
  return cap > 0 ? Math.min(cap, halved) : halved;
}

/**
 * The baseline after the newest figures: taken in only while no copy runs (copies are what it
 * guards against), except the first figures, so a node that copies from the start has one.
 */
export function nextBaseline(baseline: ServingBaseline | undefined, figures: ServingFigures, copying: boolean): ServingBaseline | undefined {
  if (figures.running === 0 || figures.ttftMs === 0) return baseline;
  const now = { ttftMs: figures.ttftMs, tokenRate: tokenRate(figures) };
  if (!baseline) return now;
  if (copying) return baseline;
  const mix = (old: number, fresh: number) => old + (fresh - old) * BASELINE_WEIGHT;
  return { ttftMs: mix(baseline.ttftMs, now.ttftMs), tokenRate: mix(baseline.tokenRate, now.tokenRate) };
}
