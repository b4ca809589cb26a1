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
  /**
   * What a switchover costs whatever the dirty pages: parking, a round's latency through the channel threads,
   * and the commit and activation exchanges with the destination (see SwitchoverCost). 0 when unknown.
   */
  switchoverCostMs?: number;
  /** What each dirty page adds to the final round, as the rounds measured it (PageCost). 0 when unknown. */
  pageCostMs?: number;
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

/**
 * The downtime if the guest were parked now: the fixed cost of the switchover itself, plus the dirty pages'
 * cost, the larger of their bytes over the bandwidth (QEMU's estimate) and their count times the measured
 * per-page cost (PageCost): pages that leave few bytes on the wire still cost their encoding, and the
 * destination's decoding and writing, which the bytes do not show.
 */
export function expectedDowntimeMs(dirtyPages: number, bandwidthBytesPerMs: number, switchoverCostMs = 0, pageCostMs = 0): number {
  if (dirtyPages === 0) return switchoverCostMs;
  if (!(bandwidthBytesPerMs > 0)) return Number.POSITIVE_INFINITY;
  return switchoverCostMs + Math.max((dirtyPages * 4096) / bandwidthBytesPerMs, dirtyPages * pageCostMs);
}
