import { PAGE_SIZE } from './constants.js';
import { ZERO_PAGE } from './page-encoding.js';

/**
 * Page copies and fills that touch guest memory (a SharedArrayBuffer).
 *
 * V8 copies to or from shared memory with a relaxed-atomic memcpy that moves 8-byte words only when source and
 * target sit at the same offset mod 8, and single bytes otherwise; it fills shared memory one element at a
 * time. Measured on Node 20 (2 cores), per 4 KiB page:
 *   guest page -> odd frame offset, direct            ~3.4 us
 *   the same through an aligned non-shared scratch    ~0.66 us (two copies)
 *   TypedArray.fill of a shared page                  ~3.3 us
 *   copy of a zero page / filled scratch page into it ~0.5 us
 * A Raw entry's bytes start at an arbitrary frame offset, so copies of whole pages go through Buffer#fill
 * (below), which is a native memcpy.
 *
 * Buffer.copy with a range makes a view internally (Node 20's _copyActual); there is no native copy between
 * ranges that avoids it.
 */
const scratch = Buffer.alloc(PAGE_SIZE); // not from the pool: offset 0, so 8-byte aligned
let scratchFill = -1;

const isShared = (view: Uint8Array): boolean => view.buffer instanceof SharedArrayBuffer;

/**
 * Copies the page at `src[srcAt, +4096)` to `dst[dstAt, ...)`. Both ranges must be in bounds.
 * Buffer#fill with a 4096-byte buffer value over a 4096-byte range is one native memcpy, whatever the
 * alignment and whether either side is shared: measured 4.0-4.7 GB/s against 3.3-3.7 GB/s for the copy
 * through an aligned scratch page (best of 5, 16384 pages at odd frame offsets).
 */
export function copyPage(src: Buffer, srcAt: number, dst: Uint8Array, dstAt: number): void {
  if (isShared(src) || isShared(dst)) {
    nativeFill.call(dst, src.subarray(srcAt, srcAt + PAGE_SIZE), dstAt, dstAt + PAGE_SIZE);
  } else {
    src.copy(dst, dstAt, srcAt, srcAt + PAGE_SIZE);
  }
}

const nativeFill = Buffer.prototype.fill as (this: Uint8Array, value: Uint8Array, offset: number, end: number) => Uint8Array;

/** Sets every byte of `dst[dstAt, +4096)` to `fill`. */
export function fillPage(dst: Uint8Array, dstAt: number, fill: number): void {
  if (!isShared(dst)) {
    dst.fill(fill, dstAt, dstAt + PAGE_SIZE);
  } else if (fill === 0) {
    ZERO_PAGE.copy(dst, dstAt);
  } else {
    if (scratchFill !== fill) {
      scratch.fill(fill);
      scratchFill = fill;
    }
    scratch.copy(dst, dstAt);
  }
}
