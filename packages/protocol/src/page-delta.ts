import { PAGE_SIZE } from './constants.js';
import { PageDeltaError } from './errors.js';

/**
 * Delta page encoding, after QEMU's XBZRLE (migration/xbzrle.c): the page is described against the copy the
 * receiver already holds, as records
 *
 *   [varint unchanged-run][varint changed-run][changed-run bytes: the new values]
 *
 * until the end of the delta; an unchanged tail after the last record needs no record. Varints are LEB128
 * (7 bits per byte, low group first, high bit = more) of at most 2 bytes, enough for 0..4096. Unlike QEMU, a
 * changed run may not be empty, and the receiver rejects rather than ignores anything that would leave the
 * page.
 *
 * A page identical to the previous copy is still a valid delta: one record (unchanged 0, changed 1) that
 * rewrites byte 0 with its own value, 3 bytes. The entry length must be 1..4095, so an empty delta is not
 * allowed.
 */

/** Chunk compared natively (one memcmp) while skipping unchanged bytes. */
const CHUNK = 512;
/** Short copies are cheaper as a loop than as a native call. */
const NATIVE_COPY_MIN = 32;

const varintBytes = (n: number): number => (n < 0x80 ? 1 : 2);

function writeVarint(out: Uint8Array, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  out[at] = (n & 0x7f) | 0x80;
  out[at + 1] = n >>> 7;
  return at + 2;
}

/** Word views for comparing four bytes at a time; usable only where both pages start 4-byte aligned. */
export interface PageWords {
  cur: Uint32Array | undefined;
  prev: Uint32Array | undefined;
}

/**
 * Writes the delta of `cur[curAt, +4096)` against `prev[prevAt, +4096)` into `out[outAt, outAt + limit)`.
 * Stops as soon as the delta cannot fit in `limit` bytes.
 * @returns the delta's length (>= 3), or -1 when it would exceed `limit`.
 */
export function encodeDelta(
  cur: Buffer,
  curAt: number,
  prev: Buffer,
  prevAt: number,
  words: PageWords,
  out: Buffer,
  outAt: number,
  limit: number,
): number {
  const end = outAt + limit;
  const cw = (curAt & 3) === 0 && (prevAt & 3) === 0 ? words.cur : undefined;
  const pw = words.prev;
  const wordDelta = (prevAt - curAt) / 4;
  let o = outAt;
  // One memcmp settles the common "dirtied but rewritten with the same bytes" page.
  let i = cur.compare(prev, prevAt, prevAt + PAGE_SIZE, curAt, curAt + PAGE_SIZE) === 0 ? PAGE_SIZE : 0;
  while (i < PAGE_SIZE) {
    // Unchanged run: whole equal chunks by native compare, then words (when aligned), then bytes.
    const unchangedStart = i;
    for (;;) {
      while ((i & (CHUNK - 1)) === 0 && i < PAGE_SIZE && cur.compare(prev, prevAt + i, prevAt + i + CHUNK, curAt + i, curAt + i + CHUNK) === 0) {
        i += CHUNK;
      }
      if (i === PAGE_SIZE) break;
      // Scan up to the next chunk boundary; if all of it is equal, try the next chunk natively.
      const limit = (i | (CHUNK - 1)) + 1;
      if (cw !== undefined && pw !== undefined) {
        while ((i & 3) !== 0 && cur[curAt + i] === prev[prevAt + i]) i++;
        if ((i & 3) === 0) {
          let w = (curAt + i) >>> 2;
          const wEnd = (curAt + limit) >>> 2;
          while (w < wEnd && cw[w] === pw[w + wordDelta]) w++;
          i = w * 4 - curAt;
        }
      }
      while (i < limit && cur[curAt + i] === prev[prevAt + i]) i++;
      if (i < limit) break;
    }
    if (i === PAGE_SIZE) break;
    const unchanged = i - unchangedStart;

    // Changed run. A single equal byte between differing ones is absorbed: it costs one byte, a new record
    // at least two. Aligned words whose four bytes all differ (no zero byte in their XOR) are taken whole.
    // The scan stops one byte past what could still fit, so a page that differs everywhere is given up early.
    const changedStart = i;
    const stop = Math.min(PAGE_SIZE, changedStart + (end - o - varintBytes(unchanged) - 1) + 1);
    while (i < stop) {
      if (cw !== undefined && pw !== undefined && (i & 3) === 0 && i + 4 <= stop) {
        const x = (cw[(curAt + i) >>> 2] as number) ^ (pw[((curAt + i) >>> 2) + wordDelta] as number);
        if (((x - 0x01010101) & ~x & 0x80808080) === 0) {
          i += 4;
          continue;
        }
      }
      if (cur[curAt + i] !== prev[prevAt + i]) i++;
      else if (i + 1 < PAGE_SIZE && cur[curAt + i + 1] !== prev[prevAt + i + 1]) i += 2;
      else break;
    }
    if (i > stop) i = stop;
    const changed = i - changedStart;
    if (o + varintBytes(unchanged) + varintBytes(changed) + changed > end) return -1;
    o = writeVarint(out, o, unchanged);
    o = writeVarint(out, o, changed);
    if (changed >= NATIVE_COPY_MIN) {
      o += cur.copy(out, o, curAt + changedStart, curAt + i);
    } else {
      for (let k = curAt + changedStart; k < curAt + i; k++) out[o++] = cur[k] as number;
    }
  }
  if (o === outAt) {
    // Identical to the previous copy: rewrite byte 0 with its own value (see above).
    if (limit < 3) return -1;
    out[o] = 0;
    out[o + 1] = 1;
    out[o + 2] = cur[curAt] as number;
    o += 3;
  }
  return o - outAt;
}

/**
 * Applies the delta `payload[at, at + length)` in place to `page[pageAt, pageAt + 4096)`. Every record is
 * checked before it is written, so nothing outside the page is ever touched; records before a bad one have
 * been applied (the caller discards the image on any decode error).
 * @throws PageDeltaError for a varint over 2 bytes, an empty changed run, a run past byte 4096, or a record
 *   cut short by the end of the delta.
 */
export function applyDelta(payload: Buffer, at: number, length: number, page: Uint8Array, pageAt: number, index: number): void {
  const end = at + length;
  let p = at;
  let pos = 0;
  const bad = (problem: string): never => {
    throw new PageDeltaError(`delta of page ${index}: ${problem} (delta byte ${p - at} of ${length})`);
  };
  const varint = (what: string): number => {
    if (p >= end) bad(`record cut short before its ${what}`);
    const b0 = payload[p++] as number;
    if (b0 < 0x80) return b0;
    if (p >= end) bad(`record cut short inside its ${what}`);
    const b1 = payload[p++] as number;
    if (b1 >= 0x80) bad(`${what} varint longer than 2 bytes`);
    return (b0 & 0x7f) | (b1 << 7);
  };
  while (p < end) {
    const unchanged = varint('unchanged run');
    const changed = varint('changed run');
    if (changed === 0) bad('empty changed run');
    const from = pos + unchanged;
    if (from + changed > PAGE_SIZE) bad(`run of ${unchanged}+${changed} bytes at page byte ${pos} passes byte ${PAGE_SIZE}`);
    if (p + changed > end) bad(`changed run of ${changed} bytes cut short`);
    if (changed >= NATIVE_COPY_MIN) {
      payload.copy(page, pageAt + from, p, p + changed);
    } else {
      for (let k = 0; k < changed; k++) page[pageAt + from + k] = payload[p + k] as number;
    }
    p += changed;
    pos = from + changed;
  }
}
