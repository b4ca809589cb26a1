import lz4 from 'lz4';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, PageBatchWriter, PageEncoding, readPageBatch, setZstdLevel, type PageBatchSink, type PageCompression } from '@livemig/protocol';
import { crc32, memorySink, noise, pageBatchBytes, u32 } from './helpers.js';

/** Text-like pages that differ from each other: words picked by a seeded generator. */
function textPages(count: number, seed = 1): Uint8Array[] {
  const words = ['memory', 'page', 'round', 'guest', 'the', 'of', 'and', 'switchover', 'dirty', 'frame', 'commit'];
  let x = seed;
  const next = (): number => (x = (x * 1103515245 + 12345) >>> 0) >>> 16;
  return Array.from({ length: count }, () => {
    const text = Array.from({ length: 1200 }, () => words[next() % words.length]).join(' ');
    return Uint8Array.from(Buffer.from(text.slice(0, 4096), 'latin1'));
  });
}

/** The pages back to back, as they lie in guest memory. */
function backToBack(pages: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(new SharedArrayBuffer(pages.length * 4096));
  pages.forEach((page, k) => all.set(page, k * 4096));
  return all;
}

/** Encodes one run at page `first`, decodes it through the frame decoder into `sink`. */
function roundTrip(first: number, pages: Uint8Array[], sink: PageBatchSink, compression: PageCompression = 'lz4') {
  const writer = new PageBatchWriter();
  writer.compression = compression;
  expect(writer.addRun(first, backToBack(pages))).toBe(true);
  const crcs = Array.from(writer.runPageCrcs.subarray(0, pages.length));
  const bytes = writer.takeFrame();
  const [frame] = new FrameDecoder().push(bytes);
  if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
  const seen: Array<[number, PageEncoding, number]> = [];
  const applied = readPageBatch(frame.payload, sink, (index, encoding, pageCrc) => seen.push([index, encoding, pageCrc]), frame.rawPageCrcs);
  return { writer, crcs, seen, applied, entries: frame.payload.readUInt32BE(0), wireBytes: bytes.length };
}

describe('runs of consecutive pages', () => {
  it('text pages next to each other go as one Lz4Run entry, smaller than one lz4 entry per page', () => {
    const pages = textPages(4);
    const sink = memorySink(8);
    const { writer, crcs, seen, applied, entries, wireBytes } = roundTrip(2, pages, sink);
    expect(entries).toBe(1);
    expect(applied).toBe(4);
    expect(writer.stats.pages.lz4).toBe(4);
    pages.forEach((page, k) => expect(sink.page(2 + k)).toEqual(page));
    expect(crcs).toEqual(pages.map((page) => crc32(page)));
    expect(seen).toEqual(pages.map((page, k) => [2 + k, PageEncoding.Lz4Run, crc32(page)]));
    // Pages outside the run are untouched.
    expect(sink.page(1).every((b) => b === 0xaa) && sink.page(6).every((b) => b === 0xaa)).toBe(true);

    const single = new PageBatchWriter();
    pages.forEach((page, k) => single.add(2 + k, page));
    expect(wireBytes).toBeLessThan(single.takeFrame().length);
  });

  it('zero, same-byte and random pages split a run; each page still gets its own encoding and CRC', () => {
    const [t0, t1, t2, t3, t4] = textPages(5, 7);
    const pages = [t0!, t1!, new Uint8Array(4096), noise(4096, 3), t2!, new Uint8Array(4096).fill(9), t3!, t4!];
    const sink = memorySink(8);
    const { crcs, seen, applied, entries } = roundTrip(0, pages, sink);
    expect(applied).toBe(8);
    expect(entries).toBe(6);
    expect(seen.map(([, encoding]) => encoding)).toEqual([
      PageEncoding.Lz4Run,
      PageEncoding.Lz4Run,
      PageEncoding.Zero,
      PageEncoding.Raw,
      PageEncoding.Lz4,
      PageEncoding.SameByte,
      PageEncoding.Lz4Run,
      PageEncoding.Lz4Run,
    ]);
    pages.forEach((page, k) => expect(sink.page(k)).toEqual(page));
    expect(crcs).toEqual(pages.map((page) => crc32(page)));
    expect(seen.map(([, , pageCrc]) => pageCrc)).toEqual(crcs);
  });

  it('random pages in a run go Raw, one entry each', () => {
    const pages = [noise(4096, 1), noise(4096, 2), noise(4096, 3)];
    const sink = memorySink(3);
    const { seen, entries } = roundTrip(0, pages, sink);
    expect(entries).toBe(3);
    expect(seen.map(([, encoding]) => encoding)).toEqual([PageEncoding.Raw, PageEncoding.Raw, PageEncoding.Raw]);
    pages.forEach((page, k) => expect(sink.page(k)).toEqual(page));
  });

  it('a run lands right in a sink whose pages are not back to back', () => {
    const pages = textPages(3, 11);
    const memory = memorySink(4);
    // Page i lives at page 3 - i of the memory: reversed.
    const sink = { pageCount: 4, page: (i: number) => memory.page(3 - i) };
    const { seen } = roundTrip(1, pages, sink);
    expect(seen.map(([, encoding]) => encoding)).toEqual([PageEncoding.Lz4Run, PageEncoding.Lz4Run, PageEncoding.Lz4Run]);
    pages.forEach((page, k) => expect(sink.page(1 + k)).toEqual(page));
    expect(memory.page(3).every((b) => b === 0xaa)).toBe(true);
  });

  it('a run block that would inflate past its pages writes nothing outside them', () => {
    const block = Buffer.alloc(lz4.encodeBound(3 * 4096));
    const length = lz4.encodeBlock(Buffer.alloc(3 * 4096, 3), block);
    const sink = memorySink(8);
    const payload = pageBatchBytes([{ index: 2, encoding: 5, raw: [2, ...u32(length), ...block.subarray(0, length)] }]);
    expect(() => readPageBatch(payload, sink)).toThrow(expect.objectContaining({ code: 'LM_ERR_PAGE_INFLATE' }));
    for (const k of [0, 1, 4, 5, 6, 7]) expect(sink.page(k).every((b) => b === 0xaa)).toBe(true);
  });

  it('addRun wants room for every page as Raw, and takes 2..16 whole pages', () => {
    const writer = new PageBatchWriter({ maxPayloadBytes: 4 + 3 * 4101 });
    expect(writer.addRun(0, backToBack(textPages(4)))).toBe(false);
    expect(writer.addRun(0, backToBack(textPages(3)))).toBe(true);
    expect(writer.addRun(3, backToBack(textPages(2)))).toBe(false);
    expect(() => writer.addRun(0, new Uint8Array(4096))).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => writer.addRun(0, new Uint8Array(17 * 4096))).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => writer.addRun(0, new Uint8Array(8000))).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => writer.addRun(0xffffffff, new Uint8Array(8192))).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
  });

  it('the frame CRC covers a run, and a flipped byte in its block is a CRC mismatch', () => {
    const writer = new PageBatchWriter();
    writer.addRun(0, backToBack(textPages(4)));
    const frame = writer.takeFrame();
    expect(frame.readUInt32BE(12)).toBe(crc32(frame.subarray(16), crc32(frame.subarray(0, 12))));
    frame[frame.length - 7]! ^= 0x10;
    expect(() => new FrameDecoder().push(frame)).toThrow(expect.objectContaining({ code: 'LM_ERR_CRC_MISMATCH' }));
  });
});

describe('compression of runs: none, lz4, zstd', () => {
  it('zstd: text pages go as one ZstdRun entry, smaller than the Lz4Run of the same pages; a lone page as a one-page ZstdRun', () => {
    const pages = textPages(6, 3);
    const sink = memorySink(8);
    const zstd = roundTrip(1, pages, sink, 'zstd');
    expect(zstd.entries).toBe(1);
    expect(zstd.writer.stats.pages.zstd).toBe(6);
    expect(zstd.seen).toEqual(pages.map((page, k) => [1 + k, PageEncoding.ZstdRun, crc32(page)]));
    expect(zstd.crcs).toEqual(pages.map((page) => crc32(page)));
    pages.forEach((page, k) => expect(sink.page(1 + k)).toEqual(page));
    expect(zstd.wireBytes).toBeLessThan(roundTrip(1, pages, memorySink(8), 'lz4').wireBytes);

    const writer = new PageBatchWriter();
    writer.compression = 'zstd';
    expect(writer.add(3, pages[0]!)).toBe(PageEncoding.ZstdRun);
    expect(writer.pageCrc).toBe(crc32(pages[0]!));
    const [frame] = new FrameDecoder().push(writer.takeFrame());
    if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    const lone = memorySink(4);
    expect(readPageBatch(frame.payload, lone)).toBe(1);
    expect(lone.page(3)).toEqual(pages[0]);
  });

  it('zstd at levels 3, 6 and 9 (setZstdLevel): the reader inflates every level alike; a higher level leaves no more bytes', () => {
    const pages = textPages(16, 11);
    const sizes: number[] = [];
    try {
      for (const level of [1, 3, 6, 9]) {
        setZstdLevel(level);
        const sink = memorySink(16);
        const run = roundTrip(0, pages, sink, 'zstd');
        expect(run.entries).toBe(1);
        pages.forEach((page, k) => expect(sink.page(k)).toEqual(page));
        expect(run.crcs).toEqual(pages.map((page) => crc32(page)));
        sizes.push(run.wireBytes);
      }
    } finally {
      setZstdLevel(1);
    }
    expect(sizes[3]).toBeLessThanOrEqual(sizes[0]!);
  });

  it('none: compressible pages go Raw, zero and same-byte pages still by content', () => {
    const [t0, t1] = textPages(2, 5);
    const pages = [t0!, t1!, new Uint8Array(4096), new Uint8Array(4096).fill(7)];
    const sink = memorySink(4);
    const { seen, crcs, writer } = roundTrip(0, pages, sink, 'none');
    expect(seen.map(([, encoding]) => encoding)).toEqual([PageEncoding.Raw, PageEncoding.Raw, PageEncoding.Zero, PageEncoding.SameByte]);
    // Only the two text pages count as what the compression applied to: two Raw entries.
    expect([writer.compressibleBytesIn, writer.compressibleBytesOut]).toEqual([2 * 4096, 2 * 4101]);
    pages.forEach((page, k) => expect(sink.page(k)).toEqual(page));
    expect(crcs).toEqual(pages.map((page) => crc32(page)));
  });
});
