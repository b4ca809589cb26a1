import { crc32 } from './crc32.js';
import { PAGE_SIZE } from './constants.js';
import { ZERO_PAGE } from './page-encoding.js';

/**
 * CRC-32 algebra for zlib's CRC (reflected polynomial 0xedb88320): the CRC of a concatenation from the CRCs of
 * its parts, so that a page's bytes are read once for both its own CRC and its frame's.
 *
 * A CRC is a polynomial over GF(2) held bit-reversed (bit 31 is x^0). For parts A and B,
 *   crc(A ++ B) = crc(A) * x^(8 * |B|) mod P  xor  crc(B),
 * the pre- and post-inversions of zlib's CRC cancelling out in the xor (the identity behind zlib's
 * crc32_combine). Multiplying by a fixed x^n is linear in the CRC, so for a fixed length it is four table
 * lookups (`Crc32Shift`).
 */
const POLYNOMIAL = 0xedb88320;
/** x^0 and x^1, bit-reversed. */
const X0 = 0x80000000;
const X1 = 0x40000000;

/** a * b mod P, both bit-reversed polynomials. */
export function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = X0; a !== 0 && bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) {
      product ^= b;
      a ^= bit;
    }
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) mod P for k = 0..63, enough for any length below 2^53 bytes. */
const X_POW_2K = new Uint32Array(64);
X_POW_2K[0] = X1;
for (let k = 1; k < X_POW_2K.length; k++) X_POW_2K[k] = multiplyModP(X_POW_2K[k - 1]!, X_POW_2K[k - 1]!);

/** x^(8 * bytes) mod P: the factor that moves a CRC past `bytes` bytes. */
export function shiftFactor(bytes: number): number {
  let factor = X0;
  // 8 * bytes = sum of 2^k over the set bits of bytes, shifted left by 3.
  for (let k = 3, n = bytes; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) factor = multiplyModP(X_POW_2K[k]!, factor);
  }
  return factor;
}

/** CRC-32 of A ++ B from crc(A), crc(B) and |B| (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multiplyModP(shiftFactor(lengthB), crcA) ^ crcB) >>> 0;
}

/** `crc32Combine(crcA, crcB, length)` for one fixed length, in four table lookups. */
export class Crc32Shift {
  readonly #table = new Uint32Array(4 * 256);

  constructor(length: number) {
    const factor = shiftFactor(length);
    for (let byte = 0; byte < 4; byte++) {
      for (let value = 0; value < 256; value++) {
        this.#table[byte * 256 + value] = multiplyModP(factor, (value << (8 * byte)) >>> 0);
      }
    }
  }

  combine(crcA: number, crcB: number): number {
    const t = this.#table;
    return (t[crcA & 0xff]! ^ t[256 + ((crcA >>> 8) & 0xff)]! ^ t[512 + ((crcA >>> 16) & 0xff)]! ^ t[768 + (crcA >>> 24)]! ^ crcB) >>> 0;
  }
}

/** Moves a CRC past one page. */
export const PAGE_CRC_SHIFT = new Crc32Shift(PAGE_SIZE);

/** CRC-32 of a page of 4096 zero bytes. */
export const ZERO_PAGE_CRC = crc32(ZERO_PAGE);

const sameBytePageCrcs = new Map<number, number>();

/** CRC-32 of a page whose 4096 bytes all equal `fill`; computed once per fill value. */
export function sameBytePageCrc(fill: number): number {
  let crc = sameBytePageCrcs.get(fill);
  if (crc === undefined) {
    crc = crc32(new Uint8Array(PAGE_SIZE).fill(fill));
    sameBytePageCrcs.set(fill, crc);
  }
  return crc;
}
