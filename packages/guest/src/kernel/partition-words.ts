import type { DirtyMarker } from '../dirty-marker.js';
import { WORDS_PER_PAGE } from './layout.js';

/**
 * u32 words of one partition, addressed as (partition-relative page, word index from that page on): a table
 * may run over many pages and across a slot boundary. Writes go through `set` (write, then mark: the page
 * is marked dirty after the store, see DirtyMarker); a host-side reader passes no marker and only reads.
 */
export class PartitionWords {
  constructor(
    private readonly slotWords: readonly Uint32Array[],
    private readonly pagesPerSlot: number,
    /** Absolute index of the partition's first page. */
    readonly start: number,
    private readonly dirty?: DirtyMarker,
  ) {}

  /** The slot view and the index in it of word `i` of the table at page `page`. */
  #at(page: number, i: number): [Uint32Array, number, number] {
    const abs = this.start + page + Math.floor(i / WORDS_PER_PAGE);
    const slot = Math.floor(abs / this.pagesPerSlot);
    return [this.slotWords[slot] as Uint32Array, (abs - slot * this.pagesPerSlot) * WORDS_PER_PAGE + (i % WORDS_PER_PAGE), abs];
  }

  // get and set are the kernel's hot path: they compute in place what #at returns, without a tuple.
  get(page: number, i: number): number {
    const abs = this.start + page + Math.floor(i / WORDS_PER_PAGE);
    const slot = Math.floor(abs / this.pagesPerSlot);
    return (this.slotWords[slot] as Uint32Array)[(abs - slot * this.pagesPerSlot) * WORDS_PER_PAGE + (i % WORDS_PER_PAGE)] as number;
  }

  set(page: number, i: number, value: number): void {
    const abs = this.start + page + Math.floor(i / WORDS_PER_PAGE);
    const slot = Math.floor(abs / this.pagesPerSlot);
    (this.slotWords[slot] as Uint32Array)[(abs - slot * this.pagesPerSlot) * WORDS_PER_PAGE + (i % WORDS_PER_PAGE)] = value;
    this.dirty?.mark(abs);
  }

  /** Fills the whole of page `page` with word `i` = `first ^ imul(i + 1, 0x9e3779b9)`, then marks it once. */
  fillPage(page: number, first: number): void {
    const [words, index, abs] = this.#at(page, 0);
    for (let i = 0; i < WORDS_PER_PAGE; i++) words[index + i] = first ^ Math.imul(i + 1, 0x9e3779b9);
    this.dirty?.mark(abs);
  }

  /** Atomic load: for words another thread writes (the hint bitmap, the interrupt words). */
  load(page: number, i: number): number {
    const [words, index] = this.#at(page, i);
    return Atomics.load(words, index);
  }

  /** Atomic store, then mark. */
  store(page: number, i: number, value: number): void {
    const [words, index, abs] = this.#at(page, i);
    Atomics.store(words, index, value >>> 0);
    this.dirty?.mark(abs);
  }

  /** Atomically clears `bits` in a word, then marks. */
  clearBits(page: number, i: number, bits: number): void {
    const [words, index, abs] = this.#at(page, i);
    Atomics.and(words, index, ~bits >>> 0);
    this.dirty?.mark(abs);
  }

  /** Blocks this thread until word `i` of page `page` holds `value` (another thread stores and notifies it). */
  waitUntilEqual(page: number, i: number, value: number): void {
    const [words, index] = this.#at(page, i);
    const ints = new Int32Array(words.buffer, words.byteOffset, words.length);
    for (;;) {
      const now = Atomics.load(ints, index);
      if (now >>> 0 === value >>> 0) return;
      Atomics.wait(ints, index, now, 100);
    }
  }

  /** Atomic store of word `i` of page `page`, waking threads waiting on it (waitUntilEqual). */
  storeAndNotify(page: number, i: number, value: number): void {
    const [words, index] = this.#at(page, i);
    const ints = new Int32Array(words.buffer, words.byteOffset, words.length);
    Atomics.store(ints, index, value | 0);
    Atomics.notify(ints, index);
  }

  /** Marks partition page `page` dirty (after its bytes were written some other way, e.g. a disk read). */
  markPage(page: number): void {
    this.dirty?.mark(this.start + page);
  }

  /** The slot bytes holding partition page `page`, and the page's byte offset in them. */
  pageBytes(page: number, slots: readonly Uint8Array[]): [Uint8Array, number] {
    const abs = this.start + page;
    const slot = Math.floor(abs / this.pagesPerSlot);
    return [slots[slot] as Uint8Array, (abs - slot * this.pagesPerSlot) * WORDS_PER_PAGE * 4];
  }
}
