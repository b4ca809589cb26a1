import lz4 from 'lz4';
import { PAGE_SIZE } from './constants.js';
import { ZERO_PAGE_CRC, multiplyModP, shiftFactor } from './crc32-combine.js';

/**
 * Sparse runs: consecutive pages that are zero but for a few bytes each (issue 11's incr guest: one counter byte
 * a page, QEMU's migration test). lz4 reduces them to a few bytes a page, and the CRC-32 of each page follows
 * from that block alone, without reading the page again: the block names every nonzero byte and its place.
 *
 * A page's CRC is affine in its bytes: crc(page) = crc(zero page) xor the sum, over its nonzero bytes v at offset
 * q, of T[v] * x^(8 * (4095 - q)) mod P (T: the CRC table, the register after one byte v from 0; then 4095 - q
 * zero bytes move it on; crc32-combine.ts has the algebra). At one nonzero byte a page that is one table lookup
 * and one carry-less multiply, against ~0.5 us for the native CRC of 4 KiB (most of it the call; issue 11).
 */

/** At most this many block bytes a page: above it the run is not sparse and the block is not parsed. */
export const SPARSE_MAX_BLOCK_BYTES_PER_PAGE = 64;
/** At most this many nonzero bytes a page on average over the run (each costs a multiply). */
export const SPARSE_MAX_NONZERO_PER_PAGE = 8;

const CAPACITY = SPARSE_MAX_NONZERO_PER_PAGE * 16;
/** The nonzero bytes of the run, in order: offset in the run, value. */
const positions = new Int32Array(CAPACITY);
const values = new Uint8Array(CAPACITY);

/** The CRC table (zlib's reflected polynomial): the register after the byte v, starting from 0. */
const CRC_TABLE = new Uint32Array(256);
for (let v = 0; v < 256; v++) {
  let r = v;
  for (let k = 0; k < 8; k++) r = (r & 1) !== 0 ? (r >>> 1) ^ 0xedb88320 : r >>> 1;
  CRC_TABLE[v] = r >>> 0;
}

/**
 * x^(8 * d) mod P for d = 0..4095: moves a CRC register past d zero bytes. Each entry is the one before moved past
 * one zero byte, which is one step of the table-driven CRC (r >>> 8 ^ T[r & 0xff]). Built on first use.
 */
let zeroBytesFactor: Uint32Array | undefined;
function factors(): Uint32Array {
  if (zeroBytesFactor === undefined) {
    zeroBytesFactor = new Uint32Array(PAGE_SIZE);
    let factor = shiftFactor(0);
    for (let d = 0; d < PAGE_SIZE; d++) {
      zeroBytesFactor[d] = factor;
      factor = ((factor >>> 8) ^ CRC_TABLE[factor & 0xff]!) >>> 0;
    }
  }
  return zeroBytesFactor;
}

/**
 * Compresses the pages `input` holds with lz4 into `out` from `at` when they make a sparse run, and puts their
 * CRCs in `crcs` from `crcsAt` (sparseRunCrcs). Returns the block's length, or 0 when they are not sparse (then
 * `out` past `at` and those CRCs hold garbage). `out` must have room for SPARSE_MAX_BLOCK_BYTES_PER_PAGE a page from `at`.
 */
export function encodeSparseRun(input: Uint8Array, out: Buffer, at: number, crcs: Uint32Array, crcsAt: number): number {
  const count = input.length / PAGE_SIZE;
  // LZ4_compress_default stops as soon as the block would outgrow the room given: a dense run costs little here.
  const length = lz4.encodeBlock(input, out, at, at + count * SPARSE_MAX_BLOCK_BYTES_PER_PAGE);
  return length > 0 && sparseRunCrcs(out, at, length, count, crcs, crcsAt) ? length : 0;
}

/**
 * When the lz4 block `block[from, from + length)` decodes to `pageCount` pages each holding at least one nonzero
 * byte and together at most SPARSE_MAX_NONZERO_PER_PAGE a page on average, writes each page's CRC-32 to
 * `crcs[crcsAt .. crcsAt + pageCount)` and returns true. Returns false, with `crcs` undefined, for anything else (a longer
 * block, a dense or an all-zero page, a block that does not decode to exactly the run): the caller then takes
 * the CRCs the usual way. Reads only the block (the writer's own output), never the pages.
 */
export function sparseRunCrcs(block: Uint8Array, from: number, length: number, pageCount: number, crcs: Uint32Array, crcsAt: number): boolean {
  if (pageCount < 1 || pageCount > 16 || length > pageCount * SPARSE_MAX_BLOCK_BYTES_PER_PAGE) return false;
  const count = decodeNonzero(block, from, from + length, pageCount * PAGE_SIZE, pageCount * SPARSE_MAX_NONZERO_PER_PAGE);
  if (count < 0) return false;
  const shift = factors();
  let k = 0;
  for (let page = 0; page < pageCount; page++) {
    const pageEnd = (page + 1) * PAGE_SIZE;
    if (k === count || (positions[k] as number) >= pageEnd) return false; // an all-zero page goes as Zero instead
    let crc = ZERO_PAGE_CRC;
    for (; k < count && (positions[k] as number) < pageEnd; k++) {
      crc ^= multiplyModP(shift[pageEnd - 1 - (positions[k] as number)]!, CRC_TABLE[values[k] as number]!);
    }
    crcs[crcsAt + page] = crc >>> 0;
  }
  return true;
}

/**
 * Decodes an lz4 block symbolically: only its nonzero bytes, into `positions`/`values` (offsets in the output).
 * A match copies the nonzero bytes of its source window forward, byte order kept even when it overlaps its own
 * output (offset < length, as lz4 runs of one byte are written). Returns how many, or -1 when there are more than
 * `max`, the block is malformed, or it does not decode to exactly `outputLength` bytes.
 */
function decodeNonzero(block: Uint8Array, at: number, end: number, outputLength: number, max: number): number {
  let out = 0;
  let count = 0;
  for (;;) {
    if (at >= end) return -1;
    const token = block[at++] as number;
    let literals = token >>> 4;
    if (literals === 15) {
      literals = extendedLength(block, at, end, literals);
      if (literals < 0) return -1;
      at = lengthEnd;
    }
    if (at + literals > end) return -1;
    for (let i = 0; i < literals; i++) {
      const v = block[at + i] as number;
      if (v === 0) continue;
      if (count === max) return -1;
      positions[count] = out + i;
      values[count++] = v;
    }
    at += literals;
    out += literals;
    if (at === end) return out === outputLength ? count : -1; // the last sequence: literals only
    if (at + 2 > end) return -1;
    const offset = (block[at] as number) | ((block[at + 1] as number) << 8);
    at += 2;
    let matchLength = (token & 15) + 4;
    if ((token & 15) === 15) {
      matchLength = extendedLength(block, at, end, matchLength);
      if (matchLength < 0) return -1;
      at = lengthEnd;
    }
    if (offset === 0 || offset > out || out + matchLength > outputLength) return -1;
    const source = out - offset;
    let k = count;
    while (k > 0 && (positions[k - 1] as number) >= source) k--;
    // Entries appended here lie at or after `out` and are copied again further on when the match overlaps.
    for (; k < count && (positions[k] as number) < source + matchLength; k++) {
      if (count === max) return -1;
      positions[count] = (positions[k] as number) + offset;
      values[count++] = values[k] as number;
    }
    out += matchLength;
  }
}

/** Where the last extendedLength's bytes ended. */
let lengthEnd = 0;

/** lz4's length extension: `length` plus the bytes from `at` up to one below 255; -1 past `end`. */
function extendedLength(block: Uint8Array, at: number, end: number, length: number): number {
  let more: number;
  do {
    if (at >= end) return -1;
    more = block[at++] as number;
    length += more;
  } while (more === 255);
  lengthEnd = at;
  return length;
}
