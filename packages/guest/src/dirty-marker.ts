/**
 * A vCPU's side of the dirty log: write, then mark, with as few atomics as the dirty-log epochs allow.
 *
 * The shared log is one bitmap; a vCPU marks a page with `Atomics.or` (the release) after writing it, and the
 * harvester takes words with `Atomics.exchange` before reading their pages (see GuestMemory). Two savings:
 *
 * - Once per epoch per page. A private filter remembers the pages this vCPU marked since it last moved to a
 *   new dirty-log epoch; writing such a page again needs no mark. A harvest takes the log, then waits until
 *   every running vCPU has moved to a new epoch (clearing its filter), and only then are the taken pages
 *   read. So a write skipped because its page was marked in the old epoch happened before the vCPU's move,
 *   which it publishes with an atomic store: the harvester, having seen that store, reads the page with the
 *   write in it. Skipping on the shared bit itself would not be safe: that read can pass the vCPU's own
 *   earlier write (store-load reordering), the harvest can clear the bit and read the old bytes in between,
 *   and the write is lost.
 * - One atomic per 32-page word for consecutive pages: bits gathered while pages share a word of the bitmap
 *   go out together, when the next page falls in another word or at `flush`.
 *
 * A mark only ever arrives later than the write, never earlier. The worker flushes before it parks,
 * finishes, stops, sleeps or moves to a new epoch, so a harvest of a parked guest sees every write.
 */
export class DirtyMarker {
  #word = -1;
  #bits = 0;
  readonly #marked: Uint32Array;

  constructor(
    private readonly dirty: Int32Array,
    /** False only for a throughput measurement without dirty logging (workload param dirtyLog = 0). */
    private readonly enabled: boolean,
  ) {
    this.#marked = new Uint32Array(dirty.length);
  }

  /** Records that `page` was written; call after its bytes are stored. */
  mark(page: number): void {
    if (!this.enabled) return;
    const word = page >>> 5;
    const bit = 1 << (page & 31);
    const marked = this.#marked[word]!;
    if ((marked & bit) !== 0) return;
    this.#marked[word] = marked | bit;
    if (word !== this.#word) {
      if (this.#bits !== 0) Atomics.or(this.dirty, this.#word, this.#bits);
      this.#word = word;
      this.#bits = 0;
    }
    this.#bits |= bit;
  }

  /** Publishes the marks gathered so far. */
  flush(): void {
    if (this.#bits !== 0) {
      Atomics.or(this.dirty, this.#word, this.#bits);
      this.#bits = 0;
    }
  }

  /** Moves to a new epoch: publishes what is gathered and forgets which pages were marked. */
  newEpoch(): void {
    this.flush();
    this.#marked.fill(0);
  }
}
