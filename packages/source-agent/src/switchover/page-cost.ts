/** One channel's share of a pre-copy round: its pages, and its thread's time on them less its waits to send. */
export interface ChannelShareCost {
  pages: number;
  busyMs: number;
}

/** A channel share smaller than this says more about the round's fixed latency than about a page's cost. */
export const PAGE_COST_MIN_PAGES = 256;
/** Weight of the newest round in the running estimate. */
const SMOOTHING = 0.5;

/**
 * What one dirty page adds to a stop-and-copy round, measured on this migration's pre-copy rounds: each channel
 * thread reports the time it spent reading, encoding and framing its share (its waits to send left out), and
 * the slowest channel's time per page, over the number of channels (pages are spread evenly over them by
 * 64-page group), is what a page costs the round.
 *
 * QEMU's estimate divides the dirty bytes by the bandwidth. That misses the cost of a page that leaves few
 * bytes on the wire: 32,768 pages with one byte changed each are 168 KiB after compression, which the socket
 * buffers take at once, while encoding them (and, at the destination, decoding, hashing and writing them) is
 * the whole stop-and-copy (issue 11: 75-133 ms at the source where the bytes promised a few ms).
 */
export class PageCost {
  #msPerPage = 0;
  #observed = false;

  /** Records a round's shares (one per channel). Rounds with only small shares are left out. */
  observeRound(shares: readonly ChannelShareCost[]): void {
    const measured = shares.filter((share) => share.pages >= PAGE_COST_MIN_PAGES);
    if (measured.length === 0) return;
    const perPage = Math.max(...measured.map((share) => share.busyMs / share.pages)) / shares.length;
    this.#msPerPage = this.#observed ? SMOOTHING * perPage + (1 - SMOOTHING) * this.#msPerPage : perPage;
    this.#observed = true;
  }

  /** Milliseconds a dirty page adds to the final round (0 until a round was measured). */
  get msPerPage(): number {
    return this.#msPerPage;
  }
}
