/** What the engine knows after each pre-copy round, for a switchover policy to decide on. */
export interface RoundObservation {
  /** Rounds sent so far; round 1 is the full pass over every written page. */
  round: number;
  /** Pages sent in this round. */
  pagesSent: number;
  /** Of those, pages also sent in the previous round (from a one-bit-per-page history). */
  pagesResent: number;
  /** Pages dirty now: what the next round (or stop-and-copy) would have to send. */
  dirtyPages: number;
  /** Dirty pages after each round so far, this one last. */
  dirtyHistory: readonly number[];
  /** Duration of this round. */
  roundMs: number;
  /** Guest-memory bytes per millisecond the rounds have moved so far. */
  bandwidthBytesPerMs: number;
  /** Since the migration started. */
  elapsedMs: number;
}

export interface SwitchoverDecision {
  switchover: boolean;
  /** Why it switched (stable names: they appear in reports as `switchoverReason`). */
  reason: string | null;
  /** Remaining dirty bytes / measured bandwidth: the downtime if we stopped now. */
  expectedDowntimeMs: number;
}

export function expectedDowntimeMs(dirtyPages: number, bandwidthBytesPerMs: number): number {
  if (dirtyPages === 0) return 0;
  if (!(bandwidthBytesPerMs > 0)) return Number.POSITIVE_INFINITY;
  return (dirtyPages * 4096) / bandwidthBytesPerMs;
}
