/**
 * A vCPU's side of the dirty log: write, then mark, with one atomic per bitmap word instead of per page.
 *
 * `mark` gathers the bits of consecutive pages that share a 32-page word of the bitmap and publishes them with
 * one `Atomics.or` (the release) when the next page falls in another word, or at `flush`. Every page written
 * is still marked after its bytes are stored, so a harvest either sees the page's new bytes or finds it
 * dirty again later; a mark only arrives later than with one atomic per page. The vCPU worker flushes before
 * it parks, finishes, stops or sleeps, so by the time the engine harvests a parked guest (stop-and-copy)
 * every write is marked. A sequential writer (QEMU's incr pattern, stream) pays one atomic per 32 pages; a
 * random writer the same one atomic per page as before.
 */
export class DirtyMarker {
  #word = -1;
  #bits = 0;

  constructor(
    private readonly dirty: Int32Array,
    /** False only for a throughput measurement without dirty logging (workload param dirtyLog = 0). */
    private readonly enabled: boolean,
  ) {}

  /** Records that `page` was written; call after its bytes are stored. */
  mark(page: number): void {
    if (!this.enabled) return;
    const word = page >>> 5;
    if (word !== this.#word) {
      if (this.#bits !== 0) Atomics.or(this.dirty, this.#word, this.#bits);
      this.#word = word;
      this.#bits = 0;
    }
    this.#bits |= 1 << (page & 31);
  }

  /** Publishes the marks gathered so far. */
  flush(): void {
    if (this.#bits !== 0) {
      Atomics.or(this.dirty, this.#word, this.#bits);
      this.#bits = 0;
    }
  }
}
