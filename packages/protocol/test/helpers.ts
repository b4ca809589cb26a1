// Independent byte builders for tests: frames and page batches are assembled by hand here, with a
// table-driven CRC-32 of our own, so expected bytes never come from the encoder under test.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

export interface HeaderOverrides {
  magic?: number;
  version?: number;
  flags?: number;
  length?: number;
  crc?: number;
}

/** A whole frame: 16-byte big-endian header (magic, version, type, flags, length, crc) + payload. */
export function frameBytes(type: number, payload: Uint8Array, o: HeaderOverrides = {}): Buffer {
  const header = [
    ...u32(o.magic ?? 0x4c4d4947),
    o.version ?? 2,
    type,
    ...u16(o.flags ?? 0),
    ...u32(o.length ?? payload.length),
  ];
  const crc = o.crc ?? crc32(payload, crc32(Uint8Array.from(header)));
  return Buffer.from([...header, ...u32(crc), ...payload]);
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function u16(n: number): number[] {
  return [(n >>> 8) & 0xff, n & 0xff];
}

export type Entry =
  | { index: number; encoding: 0 }
  | { index: number; encoding: 1; fill: number }
  | { index: number; encoding: 2; block: Uint8Array }
  | { index: number; encoding: 3; page: Uint8Array }
  | { index: number; encoding: 4; delta: Uint8Array | number[] }
  | { index: number; encoding: number; raw: number[] };

/** A PageBatch payload: u32 count, then per entry u32 index, u8 encoding, encoding-specific bytes. */
export function pageBatchBytes(entries: Entry[], count = entries.length): Buffer {
  const out: number[] = [...u32(count)];
  for (const e of entries) {
    out.push(...u32(e.index), e.encoding);
    if ('fill' in e) out.push(e.fill);
    else if ('block' in e) out.push(...u16(e.block.length), ...e.block);
    else if ('page' in e) out.push(...e.page);
    else if ('delta' in e) out.push(...u16(e.delta.length), ...e.delta);
    else if ('raw' in e) out.push(...e.raw);
  }
  return Buffer.from(out);
}

/** A sink over `pages` fresh pages, pre-filled with 0xAA so a skipped write shows. */
export function memorySink(pages: number): { pageCount: number; page(i: number): Uint8Array; bytes: Uint8Array } {
  const bytes = new Uint8Array(new SharedArrayBuffer(pages * 4096)).fill(0xaa);
  return { pageCount: pages, bytes, page: (i) => bytes.subarray(i * 4096, (i + 1) * 4096) };
}

/** Deterministic pseudo-random bytes (xorshift32), incompressible for lz4. */
export function noise(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function textPage(): Uint8Array {
  const text = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ';
  const page = new Uint8Array(4096);
  for (let i = 0; i < page.length; i++) page[i] = text.charCodeAt(i % text.length);
  return page;
}

/** LEB128, low 7-bit group first. */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    out.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return out;
}

/** Delta bytes from records [unchanged run, new bytes of the changed run]. */
export function deltaBytes(records: Array<[number, number[]]>): number[] {
  return records.flatMap(([unchanged, bytes]) => [...varint(unchanged), ...varint(bytes.length), ...bytes]);
}
