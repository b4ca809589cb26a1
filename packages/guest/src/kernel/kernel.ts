import { GuestError, GuestErrorCode } from '../errors.js';
import { deflateOne } from './balloon.js';
import type { VirtualDisk } from './disk.js';
import {
  ANON_HANDLE_PAGES,
  BLOCK_DATA_BYTES,
  BLOCK_MASK,
  KERNEL_MAGIC,
  PageState,
  Sb,
  STATE_SHIFT,
  WORDS_PER_PAGE,
  type KernelLayout,
} from './layout.js';
import type { PartitionWords } from './partition-words.js';

const TRAILER_BLOCK_WORD = BLOCK_DATA_BYTES / 4;
const TRAILER_GEN_WORD = TRAILER_BLOCK_WORD + 1;

/**
 * One vCPU's guest kernel: a page allocator (a free stack), anonymous buffers, and a page cache over the
 * vCPU's range of disk blocks (clean and dirty pages, write-back, clock eviction). It keeps nothing in
 * locals: every table is in guest memory (see layout.ts), so a kernel rebuilt on another host from the
 * same memory carries on where this one stopped.
 *
 * Soft pages (SonicMigration): free and clean cache pages. Before a page stops being soft (allocated,
 * or a clean cache page written) the kernel clears its bit in the published hint bitmap, then writes it:
 * the latest hint never calls a page soft that was written after it (hints.ts publishes and drops).
 */
export class GuestKernel {
  constructor(
    readonly layout: KernelLayout,
    readonly words: PartitionWords,
    readonly slots: readonly Uint8Array[],
    readonly disk: VirtualDisk,
  ) {}

  sb(word: number): number {
    return this.words.get(0, word);
  }

  setSb(word: number, value: number): void {
    this.words.set(0, word, value >>> 0);
  }

  /** Formats the partition on first use: every data page free, metadata pages META. */
  bootIfFresh(): void {
    if (this.sb(Sb.MAGIC) === KERNEL_MAGIC) return;
    const l = this.layout;
    this.setSb(Sb.PAGES, l.pages);
    this.setSb(Sb.BLOCKS, l.blocks);
    this.setSb(Sb.FIRST_BLOCK, l.firstBlock);
    this.setSb(Sb.HINT_FIRST_PAGE, l.hintPage);
    this.setSb(Sb.HINT_WORDS, l.bitmapWords);
    for (let p = 0; p < l.dataPage; p++) this.words.set(l.pageInfoPage, p, PageState.META << STATE_SHIFT);
    // Pushed highest first, so the lowest data page is allocated first.
    let free = 0;
    for (let p = l.pages - 1; p >= l.dataPage; p--) this.words.set(l.freeStackPage, free++, p);
    this.setSb(Sb.FREE_COUNT, free);
    this.setSb(Sb.CLOCK_HAND, l.dataPage);
    this.setSb(Sb.FLUSH_CURSOR, l.dataPage);
    this.setSb(Sb.MAGIC, KERNEL_MAGIC);
  }

  info(page: number): number {
    return this.words.get(this.layout.pageInfoPage, page);
  }

  stateOf(page: number): number {
    return this.info(page) >>> STATE_SHIFT;
  }

  setInfo(page: number, state: number, block = 0): void {
    this.words.set(this.layout.pageInfoPage, page, ((state << STATE_SHIFT) | block) >>> 0);
  }

  /** Withdraws `page` from the published hint: called before the page is written as anything but soft. */
  unhint(page: number): void {
    this.words.clearBits(this.layout.hintPage, page >>> 5, 1 << (page & 31));
  }

  /** @throws GuestError LM_ERR_VCPU_CRASHED on a page number outside the data pages (corrupt metadata) */
  #checkData(page: number, what: string): number {
    if (!Number.isInteger(page) || page < this.layout.dataPage || page >= this.layout.pages) {
      throw new GuestError(GuestErrorCode.VCPU_CRASHED, `guest kernel: ${what} names page ${page}, outside the data pages`);
    }
    return page;
  }

  /** A page for the caller to fill: popped from the free stack, else taken from the cache. */
  allocPage(forCache: boolean): number {
    const l = this.layout;
    let page: number;
    const free = this.sb(Sb.FREE_COUNT);
    if (forCache && this.sb(Sb.CACHE_PAGES) >= l.cachePages) {
      page = this.evictOne();
    } else if (free > 0) {
      // Only ballooned pages left: take the top one back before popping it.
      deflateOne(this);
      page = this.#checkData(this.words.get(l.freeStackPage, free - 1), 'the free stack');
      this.setSb(Sb.FREE_COUNT, free - 1);
    } else {
      page = this.evictOne();
    }
    this.unhint(page);
    return page;
  }

  freePage(page: number): void {
    const free = this.sb(Sb.FREE_COUNT);
    this.setInfo(page, PageState.FREE);
    this.words.set(this.layout.freeStackPage, free, page);
    this.setSb(Sb.FREE_COUNT, free + 1);
  }

  /** The next cache page after the clock hand, written back if dirty and out of the cache index. */
  evictOne(): number {
    const l = this.layout;
    let page = this.sb(Sb.CLOCK_HAND);
    for (let scanned = 0; scanned < l.pages; scanned++) {
      if (page >= l.pages || page < l.dataPage) page = l.dataPage;
      const state = this.stateOf(page);
      if (state === PageState.CLEAN || state === PageState.DIRTY) {
        this.setSb(Sb.CLOCK_HAND, page + 1);
        this.dropCachePage(page, state === PageState.DIRTY);
        return page;
      }
      page++;
    }
    throw new GuestError(GuestErrorCode.VCPU_CRASHED, 'guest kernel: out of memory (nothing free, nothing to evict)');
  }

  /** Takes a cache page out of the index (writing it back first if asked); the caller reuses or frees it. */
  dropCachePage(page: number, writeBack: boolean): void {
    if (writeBack) this.writeBack(page);
    const block = this.info(page) & BLOCK_MASK;
    this.words.set(this.layout.blockPagePage, block, 0);
    this.setInfo(page, PageState.FREE);
    this.setSb(Sb.CACHE_PAGES, this.sb(Sb.CACHE_PAGES) - 1);
  }

  /** Writes a dirty cache page to its block with the next generation in its trailer; the page is clean after. */
  writeBack(page: number): void {
    const l = this.layout;
    const block = this.info(page) & BLOCK_MASK;
    const generation = (this.words.get(l.blockGenPage, block) + 1) >>> 0;
    this.words.set(page, TRAILER_BLOCK_WORD, l.firstBlock + block);
    this.words.set(page, TRAILER_GEN_WORD, generation);
    const [slot, offset] = this.words.pageBytes(page, this.slots);
    this.disk.write(l.firstBlock + block, slot, offset);
    this.words.set(l.blockGenPage, block, generation);
    this.setInfo(page, PageState.CLEAN, block);
    this.setSb(Sb.WRITE_BACKS, this.sb(Sb.WRITE_BACKS) + 1);
  }

  /** The cache page holding block `block` (relative to this vCPU's range), read from the disk on a miss. */
  cachedBlock(block: number): number {
    const l = this.layout;
    const cached = this.words.get(l.blockPagePage, block);
    if (cached !== 0) return this.#checkData(cached, 'the cache index');
    const page = this.allocPage(true);
    const [slot, offset] = this.words.pageBytes(page, this.slots);
    this.disk.read(l.firstBlock + block, slot, offset);
    this.words.markPage(page);
    this.setInfo(page, PageState.CLEAN, block);
    this.words.set(l.blockPagePage, block, page);
    this.setSb(Sb.CACHE_PAGES, this.sb(Sb.CACHE_PAGES) + 1);
    this.setSb(Sb.DISK_READS, this.sb(Sb.DISK_READS) + 1);
    return page;
  }

  /** Makes block `block`'s cache page dirty and returns it, ready to be written. */
  dirtyBlock(block: number): number {
    const page = this.cachedBlock(block);
    if (this.stateOf(page) === PageState.CLEAN) {
      this.unhint(page);
      this.setInfo(page, PageState.DIRTY, block);
    }
    return page;
  }

  /**
   * Writes back up to `max` dirty pages among the next `scan` pages from the flush cursor (the periodic
   * flusher: bounded, so a flush op costs about as much as any other).
   */
  flushSome(max: number, scan: number): void {
    const l = this.layout;
    let page = this.sb(Sb.FLUSH_CURSOR);
    let done = 0;
    for (let scanned = 0; scanned < scan && done < max; scanned++) {
      if (page >= l.pages || page < l.dataPage) page = l.dataPage;
      if (this.stateOf(page) === PageState.DIRTY) {
        this.writeBack(page);
        done++;
      }
      page++;
    }
    this.setSb(Sb.FLUSH_CURSOR, page);
  }

  /** Word `i` of anonymous handle `handle`'s entry (0: page count, 1 + k: its k-th page). */
  anonWord(handle: number, i: number): number {
    return this.words.get(this.layout.anonPage, handle * (1 + ANON_HANDLE_PAGES) + i);
  }

  setAnonWord(handle: number, i: number, value: number): void {
    this.words.set(this.layout.anonPage, handle * (1 + ANON_HANDLE_PAGES) + i, value);
  }

  /** Gives handle `handle` `count` fresh pages, each filled by `fill(page)`. */
  anonAlloc(handle: number, count: number, fill: (page: number) => void): void {
    for (let k = 0; k < count; k++) {
      const page = this.allocPage(false);
      fill(page);
      this.setInfo(page, PageState.ANON);
      this.setAnonWord(handle, 1 + k, page);
    }
    this.setAnonWord(handle, 0, count);
    this.setSb(Sb.ANON_PAGES, this.sb(Sb.ANON_PAGES) + count);
  }

  /** Frees handle `handle`'s pages, after `fold(page)` has read each. */
  anonFree(handle: number, fold: (page: number) => void): void {
    const count = this.anonWord(handle, 0);
    for (let k = 0; k < count; k++) {
      const page = this.#checkData(this.anonWord(handle, 1 + k), 'an anonymous buffer');
      fold(page);
      this.freePage(page);
    }
    this.setAnonWord(handle, 0, 0);
    this.setSb(Sb.ANON_PAGES, this.sb(Sb.ANON_PAGES) - count);
  }

  /** Word `i` of partition page `page` (data access for the workload). */
  pageWord(page: number, i: number): number {
    return this.words.get(page, i % WORDS_PER_PAGE);
  }

  setPageWord(page: number, i: number, value: number): void {
    this.words.set(page, i % WORDS_PER_PAGE, value >>> 0);
  }
}
