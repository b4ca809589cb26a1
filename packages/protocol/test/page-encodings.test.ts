import { describe, expect, it } from 'vitest';
import {
  BadArgumentError,
  FrameDecoder,
  FrameType,
  PAGE_ENCODING_NAMES,
  PageBatchWriter,
  PageEncoding,
  isZeroPage,
  readPageBatch,
} from '@livemig/protocol';
import { memorySink, noise, textPage } from './helpers.js';

function oneByteChanged(): Uint8Array {
  const page = new Uint8Array(4096);
  page[1234] = 0x5a;
  return page;
}

/** Encodes pages into one batch, sends it through the decoder, applies it to a fresh sink. */
function roundTrip(pages: Uint8Array[]): { sink: ReturnType<typeof memorySink>; encodings: PageEncoding[]; seen: Array<[number, PageEncoding]> } {
  const writer = new PageBatchWriter();
  const encodings = pages.map((p, i) => writer.add(i, p) as PageEncoding);
  const frames = new FrameDecoder().push(writer.takeFrame());
  const frame = frames[0];
  if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
  const sink = memorySink(pages.length);
  const seen: Array<[number, PageEncoding]> = [];
  expect(readPageBatch(frame.payload, sink, (i, e) => seen.push([i, e]))).toBe(pages.length);
  return { sink, encodings, seen };
}

describe('page encodings round trip and are chosen by content', () => {
  it.each<[string, () => Uint8Array, PageEncoding]>([
    ['all-zero page -> Zero', () => new Uint8Array(4096), PageEncoding.Zero],
    ['all-0xFF page -> SameByte', () => new Uint8Array(4096).fill(0xff), PageEncoding.SameByte],
    ['zero page with one byte changed -> Lz4', oneByteChanged, PageEncoding.Lz4],
    ['same-byte page with its last byte changed -> Lz4', () => new Uint8Array(4096).fill(7).fill(8, 4095), PageEncoding.Lz4],
    ['text-like page -> Lz4', textPage, PageEncoding.Lz4],
    ['random page -> Raw', () => noise(4096, 77), PageEncoding.Raw],
  ])('%s', (_name, make, encoding) => {
    const page = make();
    const { sink, encodings, seen } = roundTrip([page]);
    expect(PAGE_ENCODING_NAMES[encodings[0]!]).toBe(PAGE_ENCODING_NAMES[encoding]);
    expect(seen).toEqual([[0, encoding]]);
    expect(Buffer.from(sink.page(0))).toEqual(Buffer.from(page));
  });

  it('pages viewed in a SharedArrayBuffer at any offset round trip', () => {
    const memory = new Uint8Array(new SharedArrayBuffer(4 * 4096 + 3));
    const pages = [0, 1, 2, 3].map((i) => memory.subarray(3 + i * 4096, 3 + (i + 1) * 4096));
    pages[1]!.fill(0x11);
    pages[2]!.set(textPage());
    pages[3]!.set(noise(4096, 4));
    const { sink, encodings } = roundTrip(pages);
    expect(encodings).toEqual([PageEncoding.Zero, PageEncoding.SameByte, PageEncoding.Lz4, PageEncoding.Raw]);
    expect(Buffer.from(sink.bytes)).toEqual(Buffer.from(memory.subarray(3)));
  });

  it('addZero writes a Zero entry that clears the destination page', () => {
    const writer = new PageBatchWriter();
    expect(writer.addZero(1)).toBe(true);
    const [frame] = new FrameDecoder().push(writer.takeFrame());
    const sink = memorySink(2);
    if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch frame');
    readPageBatch(frame.payload, sink);
    expect(isZeroPage(sink.page(1))).toBe(true);
    expect(sink.page(0)[0]).toBe(0xaa);
  });
});

describe('PageBatchWriter capacity and ownership', () => {
  it('add returns undefined only when a worst-case page no longer fits, then the next batch takes it', () => {
    const writer = new PageBatchWriter({ maxPayloadBytes: 4 + 2 * 4101 });
    const random = noise(4096, 9);
    expect(writer.add(0, random)).toBe(PageEncoding.Raw);
    expect(writer.add(1, random)).toBe(PageEncoding.Raw);
    expect(writer.add(2, new Uint8Array(4096))).toBeUndefined();
    expect(writer.addZero(2)).toBe(false);
    expect(writer.pageCount).toBe(2);
    writer.takeFrame();
    expect(writer.add(2, new Uint8Array(4096))).toBe(PageEncoding.Zero);
  });

  it('a taken frame never changes when the writer goes on', () => {
    const writer = new PageBatchWriter({ maxPayloadBytes: 4 + 3 * 4101 });
    const random = noise(4096, 1);
    writer.add(0, random);
    writer.add(1, random);
    const full = writer.takeFrame();
    const fullCopy = Buffer.from(full);
    writer.add(5, new Uint8Array(4096).fill(1));
    const small = writer.takeFrame();
    const smallCopy = Buffer.from(small);
    writer.add(6, noise(4096, 2));
    writer.add(7, noise(4096, 3));
    writer.takeFrame();
    expect(full).toEqual(fullCopy);
    expect(small).toEqual(smallCopy);
  });

  it('rejects bad arguments with LM_ERR_BAD_ARGUMENT', () => {
    const writer = new PageBatchWriter();
    expect(() => writer.add(0, new Uint8Array(100))).toThrow(BadArgumentError);
    expect(() => writer.add(-1, new Uint8Array(4096))).toThrow(BadArgumentError);
    expect(() => writer.addZero(2 ** 32)).toThrow(BadArgumentError);
    expect(() => writer.addZero(1.5)).toThrow(BadArgumentError);
    expect(() => new PageBatchWriter({ maxPayloadBytes: 4000 })).toThrow(BadArgumentError);
    expect(() => new FrameDecoder({ maxPayloadBytes: -1 })).toThrow(BadArgumentError);
  });
});

describe('isZeroPage', () => {
  it('is true only for an all-zero 4096-byte page, at any alignment', () => {
    const memory = new Uint8Array(new SharedArrayBuffer(3 * 4096));
    for (const offset of [0, 1, 4, 8, 4095]) {
      const page = memory.subarray(offset, offset + 4096);
      expect(isZeroPage(page)).toBe(true);
      for (const at of [0, 7, 4095]) {
        page[at] = 1;
        expect(isZeroPage(page)).toBe(false);
        page[at] = 0;
      }
    }
    expect(isZeroPage(new Uint8Array(4095))).toBe(false);
  });
});
