import lz4 from 'lz4';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, PageBatchWriter, PageEncoding, readPageBatch } from '@livemig/protocol';
import { sparseRunCrcs } from '../src/page-sparse-run.js';
import { crc32, memorySink, noise, pageBatchBytes, u32 } from './helpers.js';

const PAGE = 4096;

/** A seeded generator, so a failure names the case that made it. */
function generator(seed: number): (n: number) => number {
  let x = seed;
  return (n) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
}

/** `count` pages back to back, zero but for `perPage` bytes each at places and values from `seed`. */
function sparsePages(count: number, perPage: number, seed: number): Buffer {
  const next = generator(seed);
  const pages = Buffer.alloc(count * PAGE);
  for (let p = 0; p < count; p++) for (let k = 0; k < perPage; k++) pages[p * PAGE + next(PAGE)] = 1 + next(255);
  return pages;
}

/** CRCs of the pages by sparseRunCrcs from their lz4 block, or undefined where it declines. */
function crcsFromBlock(pages: Buffer): number[] | undefined {
  const count = pages.length / PAGE;
  const block = Buffer.alloc(lz4.encodeBound(pages.length));
  const length = lz4.encodeBlock(pages, block);
  const crcs = new Uint32Array(count + 2);
  return sparseRunCrcs(block, 0, length, count, crcs, 2) ? Array.from(crcs.subarray(2)) : undefined;
}

const pageCrcs = (pages: Buffer): number[] => Array.from({ length: pages.length / PAGE }, (_, p) => crc32(pages.subarray(p * PAGE, (p + 1) * PAGE)));

describe('a sparse page\'s CRC from its lz4 block', () => {
  it('equals the CRC of its bytes, for 1..16 pages of 1..8 nonzero bytes at seeded places', () => {
    let taken = 0;
    for (let seed = 1; seed <= 80; seed++) {
      const perPage = 1 + (seed % 8);
      const pages = sparsePages(1 + (seed % 16), perPage, seed);
      const crcs = crcsFromBlock(pages);
      // Declining is allowed (the block may outgrow SPARSE_MAX_BLOCK_BYTES_PER_PAGE), never for 1..2 bytes a page.
      if (perPage <= 2) expect(crcs, `seed ${seed}`).toBeDefined();
      if (crcs !== undefined) expect(crcs, `seed ${seed}`).toEqual(pageCrcs(pages));
      if (crcs !== undefined) taken++;
    }
    expect(taken).toBeGreaterThan(40);
  });

  it('equals it for incr\'s pages: identical pages, so lz4 copies the counter byte along with the zeros', () => {
    const pages = Buffer.alloc(16 * PAGE);
    for (let p = 0; p < 16; p++) pages[p * PAGE] = 7;
    expect(crcsFromBlock(pages)).toEqual(pageCrcs(pages));
  });

  it('equals it for a nonzero byte in the last bytes of the run (lz4 ends on literals)', () => {
    const pages = Buffer.alloc(3 * PAGE);
    pages[PAGE - 1] = 1;
    pages[PAGE + 2] = 2;
    pages[3 * PAGE - 1] = 0xff;
    pages[3 * PAGE - 6] = 0x80;
    expect(crcsFromBlock(pages)).toEqual(pageCrcs(pages));
  });

  it('follows a match that overlaps its own output and copies nonzero bytes (offset 2: 5, 0, 5, 0, ...)', () => {
    // Hand-made block: literals [5, 0], then a match at offset 2 over the rest of the page but 5 bytes, then 5
    // zero literals: the page is 5, 0 repeated; too many nonzero bytes for a sparse page, so it is declined...
    const block = Buffer.from([0x2f, 5, 0, 2, 0, ...lengthBytes(PAGE - 2 - 5 - 19), 0x50, 0, 0, 0, 0, 0]);
    expect(sparseRunCrcs(block, 0, block.length, 1, new Uint32Array(1), 0)).toBe(false);
    // ... and the same over 12 bytes, the rest zero through an offset-1 match, is taken.
    const short = Buffer.from([0x28, 5, 0, 2, 0, 0x1f, 0, 1, 0, ...lengthBytes(PAGE - 2 - 12 - 1 - 5 - 19), 0x50, 0, 0, 0, 0, 0]);
    const page = Buffer.alloc(PAGE);
    for (let i = 0; i < 14; i += 2) page[i] = 5;
    expect(lz4.decodeBlock(short, Buffer.alloc(PAGE))).toBe(PAGE);
    const crcs = new Uint32Array(1);
    expect(sparseRunCrcs(short, 0, short.length, 1, crcs, 0)).toBe(true);
    expect(crcs[0]).toBe(crc32(page));
  });

  it('declines an all-zero page, a dense page, a block of another length and a truncated block', () => {
    const withZero = sparsePages(4, 2, 3);
    withZero.fill(0, PAGE, 2 * PAGE);
    expect(crcsFromBlock(withZero)).toBeUndefined();
    expect(crcsFromBlock(sparsePages(2, 40, 4))).toBeUndefined();
    const pages = sparsePages(2, 1, 5);
    const block = Buffer.alloc(lz4.encodeBound(pages.length));
    const length = lz4.encodeBlock(pages, block);
    const crcs = new Uint32Array(3);
    expect(sparseRunCrcs(block, 0, length, 3, crcs, 0)).toBe(false);
    expect(sparseRunCrcs(block, 0, length - 1, 2, crcs, 0)).toBe(false);
  });
});

/** lz4's length extension for a match length field of 15 plus `rest`. */
function lengthBytes(rest: number): number[] {
  const out: number[] = [];
  for (; rest >= 255; rest -= 255) out.push(255);
  out.push(rest);
  return out;
}

describe('the reader takes a sparse run\'s CRCs from its block', () => {
  it('for hand-built Lz4Run entries of 2..16 pages of 1..8 nonzero bytes, and for dense and all-zero runs read the usual way', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const count = 2 + (seed % 15);
      // Every 10th run is dense (text-like), every 7th has an all-zero page: those are hashed page by page.
      const pages = seed % 10 === 0 ? Buffer.from(Array.from({ length: count * PAGE }, (_, i) => 97 + ((i * 7) % 5))) : sparsePages(count, 1 + (seed % 8), seed);
      if (seed % 7 === 0) pages.fill(0, PAGE, 2 * PAGE);
      const block = Buffer.alloc(lz4.encodeBound(pages.length));
      const length = lz4.encodeBlock(pages, block);
      // Lz4Run (5): u8 page count, u32 block length, the block; written by hand, not by the writer.
      const payload = pageBatchBytes([{ index: 3, encoding: 5, raw: [count, ...u32(length), ...block.subarray(0, length)] }]);
      const sink = memorySink(3 + count);
      const seen: number[] = [];
      expect(readPageBatch(payload, sink, (_, encoding, crc) => seen.push(crc))).toBe(count);
      expect(seen, `seed ${seed}`).toEqual(pageCrcs(pages));
      expect(Buffer.compare(Buffer.from(sink.bytes.buffer, 3 * PAGE, count * PAGE), pages)).toBe(0);
    }
  });
});

describe('sparse runs through the writer', () => {
  /** Runs of 16 pages through one writer (plain batches), decoded; returns encodings, CRCs and the image. */
  function roundTrip(image: Buffer, compression: 'lz4' | 'none' | 'zstd') {
    const shared = new Uint8Array(new SharedArrayBuffer(image.length));
    shared.set(image);
    const writer = new PageBatchWriter();
    writer.compression = compression;
    const crcs: number[] = [];
    for (let first = 0; first < shared.length / PAGE; first += 16) {
      expect(writer.addRun(first, shared.subarray(first * PAGE, (first + 16) * PAGE))).toBe(true);
      crcs.push(...writer.runPageCrcs);
    }
    const [frame] = new FrameDecoder().push(writer.takeFrame());
    if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    const sink = memorySink(shared.length / PAGE);
    const seen: Array<[number, PageEncoding, number]> = [];
    readPageBatch(frame.payload, sink, (index, encoding, crc) => seen.push([index, encoding, crc]), frame.rawPageCrcs);
    return { writer, crcs, seen, sink };
  }

  it('incr pages go as Lz4Run under every compression, with the CRCs of their bytes, and round-trip', () => {
    const image = Buffer.alloc(64 * PAGE);
    for (let p = 0; p < 64; p++) image[p * PAGE] = 2;
    for (const compression of ['lz4', 'none', 'zstd'] as const) {
      const { writer, crcs, seen, sink } = roundTrip(image, compression);
      expect(writer.stats.pages.lz4, compression).toBe(64);
      expect(crcs).toEqual(pageCrcs(image));
      expect(seen.map(([, , crc]) => crc)).toEqual(crcs);
      expect(Buffer.compare(Buffer.from(sink.bytes.buffer), image), compression).toBe(0);
    }
  });

  it('a run after a sparse one that is not sparse (random, text, a zero page) is encoded as before, and round-trips', () => {
    const image = Buffer.alloc(96 * PAGE);
    for (let p = 0; p < 16; p++) image[p * PAGE + 100] = 9; // sparse
    const next = generator(11);
    image.set(noise(16 * PAGE, 11), 16 * PAGE); // random
    for (let p = 32; p < 48; p++) image[p * PAGE + 5] = 1; // sparse again
    for (let i = 48 * PAGE; i < 64 * PAGE; i++) image[i] = 97 + next(3); // text-like
    for (let p = 64; p < 80; p++) if (p !== 70) image[p * PAGE + 4000] = 3; // sparse but for one zero page
    for (let p = 80; p < 96; p++) image[p * PAGE + 7] = 4;
    const { writer, crcs, sink } = roundTrip(image, 'lz4');
    expect(crcs).toEqual(pageCrcs(image));
    expect(Buffer.compare(Buffer.from(sink.bytes.buffer), image)).toBe(0);
    expect(writer.stats.pages.raw).toBe(16);
    expect(writer.stats.pages.zero).toBe(1);
  });

  it('in a direct batch (PageBatchDirect) a sparse run is an entry of the head, the random run the raw region', () => {
    const image = Buffer.alloc(48 * PAGE);
    for (let p = 0; p < 16; p++) image[p * PAGE + 3] = 1 + p;
    image.set(noise(16 * PAGE, 5), 16 * PAGE);
    for (let p = 32; p < 48; p++) image[p * PAGE + 4095] = 200;
    const shared = new Uint8Array(new SharedArrayBuffer(image.length));
    shared.set(image);
    const writer = new PageBatchWriter();
    writer.direct = true;
    const crcs: number[] = [];
    for (let first = 0; first < 48; first += 16) {
      expect(writer.addRun(first, shared.subarray(first * PAGE, (first + 16) * PAGE))).toBe(true);
      crcs.push(...writer.runPageCrcs);
    }
    const [frame] = new FrameDecoder().push(Buffer.concat(writer.takeParts()));
    if (frame?.type !== FrameType.PageBatch || frame.rawAt === undefined) throw new Error('expected a PageBatchDirect frame');
    const sink = memorySink(48);
    const seen: number[] = [];
    readPageBatch(frame.payload, sink, (_index, _encoding, crc) => seen.push(crc), frame.rawPageCrcs, frame.rawAt);
    expect(Buffer.compare(Buffer.from(sink.bytes.buffer), image)).toBe(0);
    expect(crcs).toEqual(pageCrcs(image));
    expect(seen).toEqual(crcs);
    expect(writer.stats.pages).toMatchObject({ lz4: 32, raw: 16 });
  });
});

