import { PAGE_SIZE } from '../constants.js';
import { partition } from '../registers.js';

/**
 * Where the guest kernel keeps its state inside one vCPU's partition (page numbers relative to the
 * partition's first page). Each vCPU runs its own kernel over its own partition and its own range of disk
 * blocks, so vCPUs never share a page or a block and a run stays deterministic. Every table is guest memory
 * and migrates like any page; the host recomputes the same layout from the geometry and the workload to find
 * the hint area and to check what the guest wrote there.
 *
 *   page 0                 superblock (Sb words)
 *   hint bitmap            one bit per partition page: 1 = soft (free, clean cache, or ballooned)
 *   balloon bitmap         one bit per partition page: 1 = given back to the host
 *   free stack             u32 page numbers, FREE_COUNT of them in use
 *   page info              u32 per page: state << 28 | disk block (cache pages)
 *   block page             u32 per disk block of this vCPU: the cache page holding it, 0 = not cached
 *   block generation       u32 per disk block: write-backs of the block so far (also its on-disk trailer)
 *   anon table             per handle: page count, then ANON_HANDLE_PAGES page numbers
 *   data pages             the rest: anonymous memory and the page cache draw on them
 */
export const KERNEL_MAGIC = 0x4c4d4b4e; // 'LMKN'

/** Superblock words (u32). */
export const Sb = {
  MAGIC: 0,
  PAGES: 1,
  BLOCKS: 2,
  FIRST_BLOCK: 3,
  /** Hint header: publications so far, when the latest was made (Date.now(), two words), its soft pages. */
  HINT_GEN: 4,
  HINT_AT_LO: 5,
  HINT_AT_HI: 6,
  /** Where the hint bitmap is and how many u32 words it has; the host checks both against its layout. */
  HINT_FIRST_PAGE: 7,
  HINT_WORDS: 8,
  HINT_SOFT: 9,
  /** Pre-suspend interrupt: the host raises IRQ_REQUEST; the kernel drops its soft state, then IRQ_ACK = request. */
  IRQ_REQUEST: 10,
  IRQ_ACK: 11,
  FREE_COUNT: 12,
  CACHE_PAGES: 13,
  ANON_PAGES: 14,
  WRITE_BACKS: 15,
  DISK_READS: 16,
  /** The workload's accumulators: what it read from files, what its anonymous buffers held when freed. */
  ACC_READ: 17,
  ACC_ANON: 18,
  CLOCK_HAND: 19,
  FLUSH_CURSOR: 20,
  /** Clean cache pages dropped by pre-suspend interrupts. */
  DROPPED: 21,
  /** Balloon: the host's target (pages), the pages given back, requests handled. */
  BALLOON_TARGET: 22,
  BALLOON_PAGES: 23,
  BALLOON_GEN: 24,
  /**
   * The host releases a vCPU that acknowledged IRQ_REQUEST (stores the request here) once the guest is told
   * to park: like SonicMigration's hypercall, the acknowledgement does not return before the suspension.
   */
  IRQ_RELEASE: 25,
} as const;

/** A page's state in the page-info table (top 4 bits). */
export const PageState = { FREE: 0, META: 1, ANON: 2, CLEAN: 3, DIRTY: 4, BALLOON: 5 } as const;
export const STATE_SHIFT = 28;
export const BLOCK_MASK = (1 << STATE_SHIFT) - 1;

/** Pages per anonymous buffer (a handle of the workload). */
export const ANON_HANDLE_PAGES = 16;
/** Bytes of a disk block that hold data; the last 8 are the trailer (u32 block, u32 generation). */
export const BLOCK_DATA_BYTES = PAGE_SIZE - 8;
export const WORDS_PER_PAGE = PAGE_SIZE / 4;

export interface KernelLayout {
  /** First page of the partition (absolute page index). */
  start: number;
  pages: number;
  firstBlock: number;
  blocks: number;
  handles: number;
  /** Most cache pages (cacheBytes split over the vCPUs). */
  cachePages: number;
  hintPage: number;
  bitmapWords: number;
  balloonPage: number;
  freeStackPage: number;
  pageInfoPage: number;
  blockPagePage: number;
  blockGenPage: number;
  anonPage: number;
  /** First data page: everything before it is metadata. */
  dataPage: number;
}

/** What the kernel's size depends on: the workload's byte sizes (whole guest). */
export interface KernelSizes {
  diskBytes: number;
  cacheBytes: number;
  anonBytes: number;
}

function pagesFor(words: number): number {
  return Math.ceil(words / WORDS_PER_PAGE);
}

/** The layout of vCPU `index`'s kernel: a pure function of the geometry and the sizes. */
export function kernelLayout(sizes: KernelSizes, index: number, vcpus: number, pageCount: number): KernelLayout {
  const { start, length } = partition(index, vcpus, pageCount);
  const disk = partition(index, vcpus, Math.floor(sizes.diskBytes / PAGE_SIZE));
  const anonPages = Math.floor(sizes.anonBytes / PAGE_SIZE / vcpus);
  const handles = Math.floor(anonPages / ANON_HANDLE_PAGES);
  const bitmapWords = Math.ceil(length / 32);
  const hintPage = 1;
  const balloonPage = hintPage + pagesFor(bitmapWords);
  const freeStackPage = balloonPage + pagesFor(bitmapWords);
  const pageInfoPage = freeStackPage + pagesFor(length);
  const blockPagePage = pageInfoPage + pagesFor(length);
  const blockGenPage = blockPagePage + pagesFor(disk.length);
  const anonPage = blockGenPage + pagesFor(disk.length);
  const dataPage = anonPage + pagesFor(handles * (1 + ANON_HANDLE_PAGES));
  return {
    start,
    pages: length,
    firstBlock: disk.start,
    blocks: disk.length,
    handles,
    cachePages: Math.floor(sizes.cacheBytes / PAGE_SIZE / vcpus),
    hintPage,
    bitmapWords,
    balloonPage,
    freeStackPage,
    pageInfoPage,
    blockPagePage,
    blockGenPage,
    anonPage,
    dataPage,
  };
}

/**
 * Why this layout cannot run, or undefined: every anonymous buffer at its largest plus one cache page must
 * fit in the data pages (then an allocation always succeeds, evicting cache pages when nothing is free).
 */
export function layoutProblem(layout: KernelLayout): string | undefined {
  const needed = layout.dataPage + layout.handles * ANON_HANDLE_PAGES + 1;
  if (needed > layout.pages) {
    return `a vCPU's kernel needs ${needed} pages (metadata ${layout.dataPage}, anonymous ${layout.handles * ANON_HANDLE_PAGES}, one cache page) but its partition has ${layout.pages}`;
  }
  if (layout.blocks < 1) return 'the disk has fewer blocks than vCPUs';
  if (layout.blocks > BLOCK_MASK) return `a vCPU's disk range of ${layout.blocks} blocks exceeds ${BLOCK_MASK}`;
  return undefined;
}

/** The kernel sizes a fileserver workload's parameters describe. */
export function kernelSizes(params: Readonly<Record<string, number>>): KernelSizes {
  return { diskBytes: params['diskBytes']!, cacheBytes: params['cacheBytes']!, anonBytes: params['anonBytes']! };
}
