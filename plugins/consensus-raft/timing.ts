// The seed's time knobs, in the ticks the Raft core counts. One tick is commit_timeout: the
// longest a follower waits to learn a new commit index, and the leader's batching window.

export interface RaftTiming {
  heartbeat_timeout: number;
  election_timeout: number;
  commit_timeout: number;
}

export interface Ticks {
  tickMs: number;
  /** A follower with no word from the leader for this many ticks (randomized up to twice) campaigns. */
  electionTicks: number;
  /** A candidate with no majority for this many ticks (randomized up to twice) tries again. */
  candidateTicks: number;
  /** The leader sends a heartbeat every this many ticks. */
  heartbeatTicks: number;
}

export function ticksOf(timing: RaftTiming): Ticks {
  const tickMs = Math.max(1, timing.commit_timeout);
  const electionTicks = Math.max(2, Math.round(timing.heartbeat_timeout / tickMs));
  return {
    tickMs,
    electionTicks,
    candidateTicks: Math.max(2, Math.round(timing.election_timeout / tickMs)),
    // Several heartbeats per timeout, so one lost heartbeat never starts an election.
    heartbeatTicks: Math.max(1, Math.floor(electionTicks / 10)),
  };
}
