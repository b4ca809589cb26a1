import lz4 from 'lz4';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, MigrationError, PageBatchWriter, PageEncoding, readPageBatch } from '@livemig/protocol';
import { deltaBytes, frameBytes, memorySink, noise, pageBatchBytes, textPage, type Entry } from './helpers.js';

/** Decodes one PageBatch frame through the frame decoder. */
function payloadOf(frame: Buffer): Buffer {
  const [decoded] = new FrameDecoder().push(frame);
  if (decoded?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
  return decoded.payload;
}

/** Sends `previous` as page 1, then `page` against it; returns the second encoding and the destination's page. */
function deltaTrip(previous: Uint8Array, page: Uint8Array, writer = new PageBatchWriter()): { encoding: PageEncoding | undefined; received: Buffer } {
  const sink = memorySink(3);
  writer.add(1, previous);
  readPageBatch(payloadOf(writer.takeFrame()), sink);
  const encoding = writer.add(1, page, previous);
  readPageBatch(payloadOf(writer.takeFrame()), sink);
  expect(sink.page(0).every((b) => b === 0xaa)).toBe(true);
  expect(sink.page(2).every((b) => b === 0xaa)).toBe(true);
  return { encoding, received: Buffer.from(sink.page(1)) };
}

const changedAt = (base: Uint8Array, ...offsets: number[]): Uint8Array => {
  const page = Uint8Array.from(base);
  for (const at of offsets) page[at] = (page[at]! + 1) & 0xff;
  return page;
};

describe('Delta encoding round trips against the previous copy', () => {
  const text = textPage();
  const random = noise(4096, 3);
  it.each<[string, Uint8Array, Uint8Array, PageEncoding]>([
    ['one byte changed at offset 0', text, changedAt(text, 0), PageEncoding.Delta],
    ['one byte changed at offset 4095', text, changedAt(text, 4095), PageEncoding.Delta],
    ['one byte changed in the middle', random, changedAt(random, 2049), PageEncoding.Delta],
    ['a 64-byte line rewritten with random bytes', random, (() => { const p = Uint8Array.from(random); p.set(noise(64, 9), 640); return p; })(), PageEncoding.Delta],
    ['scattered bytes, odd gaps', random, changedAt(random, 1, 3, 4, 6, 100, 101, 102, 4000, 4002, 4094), PageEncoding.Delta],
    ['unchanged page (1-byte rewrite of byte 0)', random, Uint8Array.from(random), PageEncoding.Delta],
    ['every byte changed, random -> other random: not a delta', random, noise(4096, 4), PageEncoding.Raw],
    ['every byte changed, text -> other text: lz4', random, text, PageEncoding.Lz4],
    ['now all zero: Zero, not a delta', random, new Uint8Array(4096), PageEncoding.Zero],
    ['now all 0xFF: SameByte, not a delta', random, new Uint8Array(4096).fill(0xff), PageEncoding.SameByte],
  ])('%s', (_name, previous, page, expected) => {
    const { encoding, received } = deltaTrip(previous, page);
    expect(encoding).toBe(expected);
    expect(received).toEqual(Buffer.from(page));
  });

  it('is chosen while it fits maxDeltaBytes, not when most bytes differ', () => {
    const previous = noise(4096, 5);
    const fewBytes = changedAt(previous, ...Array.from({ length: 40 }, (_, i) => i * 97));
    const half = Uint8Array.from(previous);
    half.set(noise(2048, 6), 1024);
    expect(deltaTrip(previous, fewBytes).encoding).toBe(PageEncoding.Delta);
    expect(deltaTrip(previous, half).encoding).toBe(PageEncoding.Raw);
    const wide = new PageBatchWriter({ maxDeltaBytes: 4095 });
    const { encoding, received } = deltaTrip(previous, half, wide);
    expect(encoding).toBe(PageEncoding.Delta);
    expect(received).toEqual(Buffer.from(half));
    expect(deltaTrip(previous, fewBytes, new PageBatchWriter({ maxDeltaBytes: 0 })).encoding).toBe(PageEncoding.Raw);
  });

  it('writes exactly the documented bytes', () => {
    const previous = noise(4096, 8);
    const page = changedAt(previous, 0, 300, 302, 4095);
    const writer = new PageBatchWriter();
    expect(writer.add(9, page, previous)).toBe(PageEncoding.Delta);
    const delta = deltaBytes([
      [0, [page[0]!]],
      [299, [page[300]!, page[301]!, page[302]!]],
      [3792, [page[4095]!]],
    ]);
    expect(writer.takeFrame()).toEqual(frameBytes(0x11, pageBatchBytes([{ index: 9, encoding: 4, delta }])));
    const same = new PageBatchWriter();
    same.add(2, previous, previous);
    expect(same.takeFrame()).toEqual(frameBytes(0x11, pageBatchBytes([{ index: 2, encoding: 4, delta: [0, 1, previous[0]!] }])));
  });

  it('addAt reads pages at any offset of a slot, its previous copy from another', () => {
    const slot = new Uint8Array(new SharedArrayBuffer(3 * 4096 + 8));
    const copies = new Uint8Array(new SharedArrayBuffer(3 * 4096));
    slot.set(textPage(), 8);
    slot.set(noise(4096, 1), 8 + 4096);
    slot.set(noise(4096, 2), 8 + 8192);
    copies.set(slot.subarray(8 + 8192), 4096);
    slot[8 + 8192 + 77] ^= 0xff;
    const writer = new PageBatchWriter();
    expect(writer.addAt(0, slot, 8)).toBe(PageEncoding.Lz4);
    expect(writer.addAt(1, slot, 8 + 4096)).toBe(PageEncoding.Raw);
    expect(writer.addAt(2, slot, 8 + 8192, copies, 4096)).toBe(PageEncoding.Delta);
    const sink = memorySink(3);
    sink.page(2).set(copies.subarray(4096, 8192));
    readPageBatch(payloadOf(writer.takeFrame()), sink);
    expect(Buffer.from(sink.bytes)).toEqual(Buffer.from(slot.subarray(8)));
    expect(() => writer.addAt(0, slot, 8 + 8193)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => writer.addAt(0, slot, -1)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => writer.add(0, slot.subarray(0, 4096), new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
  });

  it('readPageBatch also accepts a slot sink { slotOf, offsetOf }', () => {
    const pages = [new Uint8Array(4096), new Uint8Array(4096).fill(3), textPage(), noise(4096, 12)];
    const writer = new PageBatchWriter();
    pages.forEach((p, i) => writer.add(i, p));
    const memory = new Uint8Array(new SharedArrayBuffer(2 * 2 * 4096 + 16)).fill(0xaa);
    const sink = { pageCount: 4, slotOf: (i: number) => memory.subarray((i >> 1) * (2 * 4096 + 8), ((i >> 1) + 1) * (2 * 4096 + 8)), offsetOf: (i: number) => 8 + (i & 1) * 4096 };
    const seen: number[] = [];
    expect(readPageBatch(payloadOf(writer.takeFrame()), sink, (_i, e) => seen.push(e))).toBe(4);
    expect(seen).toEqual([0, 1, 2, 3]);
    pages.forEach((p, i) => expect(Buffer.from(sink.slotOf(i).subarray(sink.offsetOf(i), sink.offsetOf(i) + 4096))).toEqual(Buffer.from(p)));
    expect(memory.subarray(0, 8).every((b) => b === 0xaa)).toBe(true);
    const bad = { pageCount: 4, slotOf: () => memory.subarray(0, 4096), offsetOf: () => 1 };
    expect(() => readPageBatch(pageBatchBytes([{ index: 0, encoding: 0 }]), bad)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
  });
});

describe('writer statistics', () => {
  it('counts pages and entry bytes per encoding, across frames', () => {
    const writer = new PageBatchWriter();
    const previous = noise(4096, 2);
    writer.add(0, new Uint8Array(4096));
    writer.addZero(1);
    writer.add(2, new Uint8Array(4096).fill(9));
    writer.add(3, noise(4096, 1));
    writer.takeFrame();
    writer.add(4, changedAt(previous, 10), previous);
    const text = writer.payloadBytes;
    writer.add(5, textPage());
    const lz4Bytes = writer.payloadBytes - text;
    expect(writer.stats.pages).toEqual({ zero: 2, sameByte: 1, lz4: 1, raw: 1, delta: 1, zstd: 0 });
    expect(writer.stats.bytes).toEqual({ zero: 10, sameByte: 6, lz4: lz4Bytes, raw: 4101, delta: 5 + 2 + 3, zstd: 0 });
  });
});

describe('malicious entries give typed errors and never write outside their page', () => {
  /** Applies one entry for page 1 of a 3-page sink pre-filled with 0xAA. */
  function apply(entry: Entry): { error: MigrationError; sink: ReturnType<typeof memorySink> } {
    const sink = memorySink(3);
    try {
      readPageBatch(pageBatchBytes([entry]), sink);
    } catch (error) {
      expect(error).toBeInstanceOf(MigrationError);
      expect(sink.page(0).every((b) => b === 0xaa)).toBe(true);
      expect(sink.page(2).every((b) => b === 0xaa)).toBe(true);
      return { error: error as MigrationError, sink };
    }
    throw new Error('expected an error');
  }

  it.each<[string, number[], string]>([
    ['unchanged run past the page end', [...[0xa0, 0x20], 1, 7], 'passes byte 4096'],
    ['changed run past the page end', [...[0xff, 0x1f], 2, 7, 7], 'passes byte 4096'],
    ['second record runs past the page end', [0, 1, 5, ...[0xfe, 0x1f], 2, 8, 8], 'passes byte 4096'],
    ['changed run of 4097 bytes', [0, 0x81, 0x20, 1], 'passes byte 4096'],
    ['3-byte varint', [0x80, 0x80, 0x01, 1, 5], 'longer than 2 bytes'],
    ['3-byte varint in the changed run', [0, 0x81, 0x80, 0x00], 'longer than 2 bytes'],
    ['zero-length changed run', [3, 0], 'empty changed run'],
    ['record without its changed run', [3], 'cut short'],
    ['varint cut after its first byte', [0x81], 'cut short'],
    ['changed bytes cut short', [0, 4, 1, 2], 'cut short'],
  ])('%s -> LM_ERR_BAD_DELTA', (_name, delta, detail) => {
    const { error } = apply({ index: 1, encoding: 4, delta });
    expect(error.code).toBe('LM_ERR_BAD_DELTA');
    expect(error.message).toContain(detail);
  });

  it('delta length 0 or 4096 -> LM_ERR_BAD_DELTA; length beyond the payload -> LM_ERR_TRUNCATED', () => {
    expect(apply({ index: 1, encoding: 4, delta: [] }).error.code).toBe('LM_ERR_BAD_DELTA');
    expect(apply({ index: 1, encoding: 4, raw: [0x10, 0x00, ...Array<number>(4096).fill(0)] }).error.code).toBe('LM_ERR_BAD_DELTA');
    expect(apply({ index: 1, encoding: 4, raw: [0, 9, 0, 1] }).error.code).toBe('LM_ERR_TRUNCATED');
  });

  it('an lz4 block inflating past the page -> LM_ERR_PAGE_INFLATE, neighbours untouched', () => {
    const out = Buffer.alloc(lz4.encodeBound(3 * 4096));
    const block = out.subarray(0, lz4.encodeBlock(Buffer.alloc(3 * 4096, 0x11), out));
    const { error, sink } = apply({ index: 1, encoding: 2, block });
    expect(error.code).toBe('LM_ERR_PAGE_INFLATE');
    expect(sink.page(2).every((b) => b === 0xaa)).toBe(true);
  });

  it('a run ending exactly at byte 4096 is accepted', () => {
    const sink = memorySink(3);
    readPageBatch(pageBatchBytes([{ index: 1, encoding: 4, delta: deltaBytes([[4094, [1, 2]]]) }]), sink);
    expect([...sink.page(1).subarray(4093)]).toEqual([0xaa, 1, 2]);
    expect(sink.page(2)[0]).toBe(0xaa);
  });
});
