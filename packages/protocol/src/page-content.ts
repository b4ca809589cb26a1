import { PAGE_SIZE } from './constants.js';
import { BadArgumentError } from './errors.js';
import { SAMPLE_DISTINCT_RANDOM, sampleDistinctBytes } from './page-sample.js';

/** How `addRun` sees a page before encoding it. */
export const enum Content {
  /** Not yet looked at: `#add` decides. */
  Unknown,
  /** One repeated byte: Zero or SameByte. */
  RepeatedByte,
  /** Not one repeated byte, and the sample says lz4 may pay. */
  Compressible,
  /** The sample says random: Raw without an lz4 pass. */
  Incompressible,
  /**
   * Not one repeated byte, but every sampled byte is the same (zero, say): likely zero but for a few bytes, a
   * sparse page (page-sparse-run.ts). Compressible if it turns out not to be.
   */
  Sparse,
}

export function checkRange(view: Uint8Array, offset: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + PAGE_SIZE > view.length) {
    throw new BadArgumentError(`${what} at offset ${offset} does not fit in ${view.length} bytes`);
  }
}

/**
 * Bytes 1..4095 equal bytes 0..4094: one repeated byte (one native memcmp). Most pages that are not differ in
 * their first four bytes already (random, text, incr's counter), which four reads tell without the native call
 * (~0.12 us a page, issue 11).
 */
export function isOneRepeatedByte(src: Buffer, at: number): boolean {
  const first = src[at] as number;
  if (src[at + 1] !== first || src[at + 2] !== first || src[at + 3] !== first) return false;
  return src.compare(src, at, at + PAGE_SIZE - 1, at + 1, at + PAGE_SIZE) === 0;
}

export function contentOf(src: Buffer, at: number): Content {
  if (isOneRepeatedByte(src, at)) return Content.RepeatedByte;
  const distinct = sampleDistinctBytes(src, at);
  return distinct >= SAMPLE_DISTINCT_RANDOM ? Content.Incompressible : distinct === 1 ? Content.Sparse : Content.Compressible;
}
