// Typed extension points. Each owner (scheduler, API server) builds one frozen hooks object; taps
// are named and ordered by the stage constants below, never by magic numbers.

export { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, SyncBailHook, SyncWaterfallHook } from 'tapable';

/** Tap stages: lower runs first. */
export const STAGE = {
  /** Before the built-in behaviour (e.g. to filter or veto). */
  early: -100,
  /** The built-in behaviour. */
  builtin: 0,
  /** After the built-in behaviour (e.g. to observe or adjust its result). */
  late: 100,
} as const;
