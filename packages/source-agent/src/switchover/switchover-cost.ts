/**
 * The part of the downtime that does not depend on how many pages are dirty, estimated from what this
 * migration has measured. QEMU's estimate is remaining bytes / bandwidth alone; on these hosts the fixed part
 * (a few thread hops on each side, the commit and activation exchanges) is most of the downtime of a small
 * switchover (an idle guest had medians of 7-40 ms in `bench live`), which made that estimate miss small
 * switchovers by up to 99 % (docs/PERFORMANCE.md). Two measured terms stand in for it:
 *
 * - a round's latency: the shortest pre-copy round minus what its pages cost at the measured bandwidth
 *   (main thread -> channel threads -> sockets -> main thread, as the stop-and-copy round travels);
 * - a control round trip: Hello out to Accept in, the destination's main thread answering, as it does at
 *   commit.
 */
export class SwitchoverCost {
  private roundLatencyMs = Number.POSITIVE_INFINITY;

  constructor(private readonly controlRoundTripMs: number) {}

  /** Records a pre-copy round: `pages` sent in `ms` at `bandwidthBytesPerMs` of guest memory. */
  observeRound(pages: number, ms: number, bandwidthBytesPerMs: number): void {
    const transfer = bandwidthBytesPerMs > 0 ? (pages * 4096) / bandwidthBytesPerMs : 0;
    this.roundLatencyMs = Math.min(this.roundLatencyMs, Math.max(0, ms - transfer));
  }

  get ms(): number {
    return (Number.isFinite(this.roundLatencyMs) ? this.roundLatencyMs : 0) + this.controlRoundTripMs;
  }
}
