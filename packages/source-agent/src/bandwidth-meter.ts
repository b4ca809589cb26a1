/**
 * Bandwidth over a short sliding window, like QEMU's migration counters, which are recomputed every 100 ms
 * rather than averaged over the whole migration: after a slow first round, or when the link or the rate
 * limit changes, the estimate follows within one window.
 *
 * Fed with cumulative byte counts; rates are bytes per millisecond.
 */
export class BandwidthMeter {
  private readonly samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = BANDWIDTH_WINDOW_MS) {}

  /** Records that `totalBytes` had been moved by `atMs` (cumulative, never decreasing). */
  sample(atMs: number, totalBytes: number): void {
    this.samples.push({ at: atMs, bytes: totalBytes });
    // Keep one sample older than the window, so the window always has a left edge.
    while (this.samples.length > 2 && this.samples[1]!.at <= atMs - this.windowMs) this.samples.shift();
  }

  /** Bytes per ms over the last window (or over everything, if less than a window has been seen); 0 if unknown. */
  rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return (last.bytes - first.bytes) / (last.at - first.at);
  }
}

/** QEMU recomputes its bandwidth every 100 ms (BUFFER_DELAY); a few of those smooth out scheduler noise here. */
export const BANDWIDTH_WINDOW_MS = 300;
