/**
 * A vCPU's side of the accessed bitmap: one bit per page, set when the vCPU reads or writes the page, like
 * the accessed bit of an EPT or page-table entry. The source's working-set prediction harvests it (the
 * LRU of Zaw and Thein); nothing about correctness depends on it, so it needs no ordering against the page's
 * bytes and no epochs.
 *
 * Cheap like the dirty log's marking: bits of pages that share a 32-page word are gathered privately and
 * published together when the vCPU moves to another word, or at `flush` (the worker flushes before it parks,
 * finishes, stops or sleeps). Publishing loads the shared word first and makes an `Atomics.or` only when a
 * bit is clear, as hardware sets an accessed bit only once. So a sweep costs one publish per 32 pages and a
 * page touched again before the next harvest costs one load. A harvest that clears a word just after that
 * load saw it set loses those marks for one harvest interval, which only ages the pages in the LRU a little
 * early; so do marks still gathered when the harvest runs.
 */
export class AccessMarker {
  #word = -1;
  #bits = 0;

  constructor(
    private readonly accessed: Int32Array,
    /** False only for a throughput measurement without access tracking (workload param accessLog = 0). */
    private readonly enabled: boolean,
  ) {}

  /** Records that `page` was read or written. */
  mark(page: number): void {
    if (!this.enabled) return;
    const word = page >>> 5;
    if (word !== this.#word) {
      this.flush();
      this.#word = word;
    }
    this.#bits |= 1 << (page & 31);
  }

  /** Publishes the marks gathered so far. */
  flush(): void {
    const bits = this.#bits;
    if (bits === 0) return;
    this.#bits = 0;
    if ((this.accessed[this.#word]! & bits) !== bits) Atomics.or(this.accessed, this.#word, bits);
  }
}
