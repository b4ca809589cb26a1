import { describe, expect, it } from 'vitest';
import {
  Crc32Shift,
  FrameDecoder,
  FrameType,
  PageBatchWriter,
  PageEncoding,
  ZERO_PAGE_CRC,
  crc32Combine,
  readPageBatch,
} from '@livemig/protocol';
import { crc32, frameBytes, memorySink, noise, pageBatchBytes, textPage } from './helpers.js';

/** One page per encoding the writer picks by content (Delta needs a previous copy: see below). */
function pagesOfEveryKind(): Uint8Array[] {
  return [new Uint8Array(4096), new Uint8Array(4096).fill(0xff), textPage(), noise(4096, 5), noise(4096, 6)];
}

describe('CRC-32 of a concatenation from the CRCs of its parts', () => {
  it.each([
    [0, 0],
    [1, 1],
    [12, 4],
    [5, 4096],
    [4096, 4096],
    [3, 300_000],
    [7, 0],
  ])('crc32Combine and Crc32Shift agree with the CRC of %i ++ %i bytes', (lengthA, lengthB) => {
    const a = noise(lengthA, lengthA + 1);
    const b = noise(lengthB, lengthB + 2);
    const whole = crc32(Uint8Array.from([...a, ...b]));
    expect(crc32Combine(crc32(a), crc32(b), lengthB)).toBe(whole);
    expect(new Crc32Shift(lengthB).combine(crc32(a), crc32(b))).toBe(whole);
  });

  it('the zero page CRC is that of 4096 zero bytes', () => {
    expect(ZERO_PAGE_CRC).toBe(crc32(new Uint8Array(4096)));
  });
});

describe('page CRCs are taken while encoding and decoding', () => {
  it("the writer's frame CRC is the CRC of the frame's bytes, and pageCrc is each page's CRC", () => {
    const writer = new PageBatchWriter();
    const pages = pagesOfEveryKind();
    const crcs = pages.map((page, index) => {
      writer.add(index, page);
      return writer.pageCrc;
    });
    writer.addZero(pages.length);
    expect(writer.pageCrc).toBe(crc32(new Uint8Array(4096)));
    expect(crcs).toEqual(pages.map((page) => crc32(page)));
    const frame = writer.takeFrame();
    expect(frame.readUInt32BE(12)).toBe(crc32(frame.subarray(16), crc32(frame.subarray(0, 12))));
  });

  it("a delta page's CRC is that of the new page", () => {
    const writer = new PageBatchWriter();
    const previous = textPage();
    const page = previous.slice();
    page[100] ^= 0x55;
    expect(writer.add(0, page, previous)).toBe(PageEncoding.Delta);
    expect(writer.pageCrc).toBe(crc32(page));
  });

  it('the decoder hands over the CRC of each Raw page, and readPageBatch reports every page CRC', () => {
    const writer = new PageBatchWriter();
    const pages = pagesOfEveryKind();
    pages.forEach((page, index) => writer.add(index, page));
    const [frame] = new FrameDecoder().push(writer.takeFrame());
    if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    expect(frame.rawPageCrcs).toEqual([crc32(pages[3]!), crc32(pages[4]!)]);
    const seen: Array<[number, PageEncoding, number]> = [];
    readPageBatch(frame.payload, memorySink(pages.length), (index, encoding, pageCrc) => seen.push([index, encoding, pageCrc]), frame.rawPageCrcs);
    expect(seen).toEqual([
      [0, PageEncoding.Zero, crc32(pages[0]!)],
      [1, PageEncoding.SameByte, crc32(pages[1]!)],
      [2, PageEncoding.Lz4, crc32(pages[2]!)],
      [3, PageEncoding.Raw, crc32(pages[3]!)],
      [4, PageEncoding.Raw, crc32(pages[4]!)],
    ]);
  });

  it('without the Raw CRCs readPageBatch reads the applied page for it', () => {
    const page = noise(4096, 9);
    const seen: number[] = [];
    readPageBatch(pageBatchBytes([{ index: 0, encoding: 3, page }]), memorySink(1), (_i, _e, pageCrc) => seen.push(pageCrc));
    expect(seen).toEqual([crc32(page)]);
  });

  it.each<[string, (frame: Buffer) => void]>([
    ['a flipped byte inside a Raw page', (frame) => (frame[16 + 4 + 5 + 2000]! ^= 1)],
    ['a Raw encoding byte turned into an unknown one', (frame) => (frame[16 + 4 + 4] = 9)],
    ['a Raw encoding byte turned into Lz4', (frame) => (frame[16 + 4 + 4] = PageEncoding.Lz4)],
    ['an entry count past the entries', (frame) => frame.writeUInt32BE(1000, 16)],
  ])('%s is a CRC mismatch, whatever the entries now seem to say', (_what, corrupt) => {
    const frame = frameBytes(0x11, pageBatchBytes([{ index: 0, encoding: 3, page: noise(4096, 3) }, { index: 1, encoding: 0 }]));
    corrupt(frame);
    expect(() => new FrameDecoder().push(frame)).toThrow(expect.objectContaining({ code: 'LM_ERR_CRC_MISMATCH' }));
  });
});
