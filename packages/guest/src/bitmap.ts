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

/** Set bits of a bitmap (plain reads; not for the shared dirty log). */
export function countSetBits(words: Int32Array): number {
  let count = 0;
  for (let w = 0; w < words.length; w++) {
    const bits = words[w] ?? 0;
    if (bits !== 0) count += popcount32(bits);
  }
  return count;
}

/** Ascending page indices of the set bits of a bitmap (plain reads; not for the shared dirty log). */
export function setBits(words: Int32Array): Uint32Array {
  const out = new Uint32Array(countSetBits(words));
  let end = 0;
  for (let w = 0; w < words.length; w++) {
    const bits = words[w] ?? 0;
    if (bits !== 0) end = writeSetBits(w, bits, out, end);
  }
  return out;
}
