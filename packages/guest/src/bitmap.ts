/** Helpers for 1-bit-per-page bitmaps stored as 32-bit words (page p is bit p & 31 of word p >>> 5). */

export function bitmapWords(pageCount: number): number {
  return Math.ceil(pageCount / 32);
}

export function popcount32(x: number): number {
  let v = x >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) >>> 0;
}

/** Writes the page indices of the set bits of `bits` (word `word`) into `out` from `at`; returns the new end. */
export function writeSetBits(word: number, bits: number, out: Uint32Array, at: number): number {
  let v = bits >>> 0;
  let end = at;
  const base = word * 32;
  while (v !== 0) {
    const low = v & -v;
    out[end++] = base + 31 - Math.clz32(low);
    v = (v ^ low) >>> 0;
  }
  return end;
}

/** Words one native compare checks at once in the scans below. */
const CHUNK_WORDS = 256;
const ZERO_CHUNK = new Uint8Array(CHUNK_WORDS * 4);

/**
 * Whether words [from, from + CHUNK_WORDS) of `bytes` (the bitmap's bytes; clipped at its end) are all zero,
 * by one native compare. The scans below skip a sparse bitmap's empty stretches with it instead of visiting each
 * word in JavaScript: in a fresh thread, before the loop is optimised, that took 1-1.4 ms per 8192 words (1 GiB
 * of pages) here, on the critical path of a migration's setup.
 */
function zeroChunk(bytes: Uint8Array, from: number): boolean {
  const start = from * 4;
  const end = Math.min(bytes.length, start + ZERO_CHUNK.length);
  return Buffer.compare(bytes.subarray(start, end), ZERO_CHUNK.subarray(0, end - start)) === 0;
}

function bytesOf(words: Int32Array): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
}

/** Set bits of a bitmap (plain reads; not for the shared dirty log). */
export function countSetBits(words: Int32Array): number {
  const bytes = bytesOf(words);
  let count = 0;
  for (let chunk = 0; chunk < words.length; chunk += CHUNK_WORDS) {
    if (zeroChunk(bytes, chunk)) continue;
    const end = Math.min(words.length, chunk + CHUNK_WORDS);
    for (let w = chunk; w < end; w++) {
      const bits = words[w] ?? 0;
      if (bits !== 0) count += popcount32(bits);
    }
  }
  return count;
}

/** Ascending page indices of the set bits of a bitmap (plain reads; not for the shared dirty log). */
export function setBits(words: Int32Array): Uint32Array {
  const bytes = bytesOf(words);
  const out = new Uint32Array(countSetBits(words));
  let at = 0;
  for (let chunk = 0; chunk < words.length && at < out.length; chunk += CHUNK_WORDS) {
    if (zeroChunk(bytes, chunk)) continue;
    const end = Math.min(words.length, chunk + CHUNK_WORDS);
    for (let w = chunk; w < end; w++) {
      const bits = words[w] ?? 0;
      if (bits !== 0) at = writeSetBits(w, bits, out, at);
    }
  }
  return out;
}
