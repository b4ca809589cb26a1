/**
 * A vCPU's side of the accessed bitmap: one bit per page, set when the vCPU reads or writes the page, like
 * the accessed bit of an EPT or page-table entry. The source's working-set prediction harvests it (the
 * LRU of Zaw and Thein); nothing about correctness depends on it, so it needs no ordering against the page's
 * bytes and no epochs.
 *
 * Cheap like the hardware's: a plain load of the word first, and an `Atomics.or` only when the bit is clear,
 * so a page touched again before the next harvest costs one load. A harvest that clears a bit just after
 * the load saw it set loses that one mark: the page looks unused for one harvest interval, which only ages
 * it in the LRU a little early.
 */
export class AccessMarker {
  constructor(
    private readonly accessed: Int32Array,
    /** False only for a throughput measurement without access tracking (workload param accessLog = 0). */
    private readonly enabled: boolean,
  ) {}

  /** Records that `page` was read or written. */
  mark(page: number): void {
    if (!this.enabled) return;
    const word = page >>> 5;
    const bit = 1 << (page & 31);
    if ((this.accessed[word]! & bit) === 0) Atomics.or(this.accessed, word, bit);
  }
}
