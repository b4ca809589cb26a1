/** One channel's share of a pre-copy round: its pages, and its thread's time on them less its waits to send. */
export interface ChannelShareCost {
  pages: number;
  busyMs: number;
}

/** A channel share smaller than this says more about the round's fixed latency than about a page's cost. */
export const PAGE_COST_MIN_PAGES = 256;
/** Weight of the newest round in the running estimates. */
const SMOOTHING = 0.5;

/**
 * What one dirty page adds to a stop-and-copy round, measured on this migration's pre-copy rounds, at each end.
 *
 * - The source: each channel thread reports the time it spent reading, encoding and framing its share (its
 *   waits to send left out), and the slowest channel's time per page, over the number of channels (pages are
 *   spread evenly over them by 64-page group), is what a page costs the round.
 * - The destination, when it acknowledges rounds (RoundAck, `round-ack-v1`): the slowest channel's time
 *   applying its share (decoding into guest memory, the CRCs), over the round's pages.
 *
 * The final round is a pipeline: the destination applies one batch while the source encodes the next, so its
 * pages cost the slower of the two ends, not their sum. The estimate is the larger of the two (each a running
 * mean over the rounds). The pre-copy rounds send pages as the final round does (sparse runs included), so
 * what they cost is what the final round will.
 *
 * QEMU's estimate divides the dirty bytes by the bandwidth. That misses the cost of a page that leaves few
 * bytes on the wire: 32,768 pages with one byte changed each are 168 KiB after compression, which the socket
 * buffers take at once, while encoding them (and, at the destination, decoding, hashing and writing them) is
 * the whole stop-and-copy (issue 11: 75-133 ms at the source where the bytes promised a few ms).
 */
export class PageCost {
  readonly #source = new RunningMean();
  readonly #destination = new RunningMean();

  /** Records a round's shares at the source (one per channel). Rounds with only small shares are left out. */
  observeRound(shares: readonly ChannelShareCost[]): void {
    const measured = shares.filter((share) => share.pages >= PAGE_COST_MIN_PAGES);
    if (measured.length === 0) return;
    this.#source.add(Math.max(...measured.map((share) => share.busyMs / share.pages)) / shares.length);
  }

  /** Records what a round's `pages` cost the destination: `applyMs`, its slowest channel's time on them. */
  observeDestination(pages: number, applyMs: number): void {
    if (pages >= PAGE_COST_MIN_PAGES) this.#destination.add(applyMs / pages);
  }

  /** Milliseconds a dirty page adds to the final round: the slower end's (0 until a round was measured). */
  get msPerPage(): number {
    return Math.max(this.#source.value, this.#destination.value);
  }

  get sourceMsPerPage(): number {
    return this.#source.value;
  }

  /** 0 without acknowledgements. */
  get destinationMsPerPage(): number {
    return this.#destination.value;
  }
}

/** An exponentially weighted mean whose first sample stands alone; 0 before any. */
class RunningMean {
  value = 0;
  #observed = false;

  add(sample: number): void {
    this.value = this.#observed ? SMOOTHING * sample + (1 - SMOOTHING) * this.value : sample;
    this.#observed = true;
  }
}
