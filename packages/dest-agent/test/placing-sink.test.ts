import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GuestMemory, PAGE_SIZE, PresentMap } from '@livemig/guest';
import { FrameDecoder, FrameType, PageBatchWriter, PageEncoding, readPageBatch } from '@livemig/protocol';
import { PlacingSink } from '../src/postcopy/placing-sink.js';

const PAGES = 64;

/** Text-like pages, different from each other, that lz4 compresses (so neighbours go as one Lz4Run entry). */
function textPage(seed: number): Uint8Array {
  const words = ['memory', 'page', 'guest', 'the', 'fault', 'push', 'bubble', 'pivot'];
  let x = seed;
  const text = Array.from({ length: 1000 }, () => words[((x = (x * 1103515245 + 12345) >>> 0) >>> 16) % words.length]).join(' ');
  return Uint8Array.from(Buffer.from(text.slice(0, PAGE_SIZE), 'latin1'));
}

/** One PageBatch frame of these pages, decoded as a receiver gets it. */
function batch(fill: (writer: PageBatchWriter) => void): { payload: Buffer; rawPageCrcs: readonly number[] } {
  const writer = new PageBatchWriter();
  fill(writer);
  const [frame] = new FrameDecoder().push(writer.takeFrame());
  if (frame?.type !== FrameType.PageBatch) throw new Error('expected a PageBatch');
  return frame;
}

describe('placing sink', () => {
  it('places the first copy of each page, whatever its encoding, and drops every later copy', () => {
    const source = GuestMemory.create(PAGES * PAGE_SIZE);
    for (let p = 8; p < 24; p++) source.page(p).set(textPage(p));
    source.page(30).fill(0xab);
    source.page(31).set(randomBytes(PAGE_SIZE));
    const memory = GuestMemory.create(PAGES * PAGE_SIZE);
    const map = PresentMap.create(PAGES, 1);
    map.startPostcopy([0, ...Array.from({ length: 16 }, (_, k) => 8 + k), 30, 31]);
    const crcs = new Map<number, number>();
    const sink = new PlacingSink(memory, map, (index, crc) => crcs.set(index, crc));

    const encodings: (PageEncoding | undefined | boolean)[] = [];
    const first = batch((w) => {
      encodings.push(w.addZero(0), w.addRun(8, source.slots[0]!.subarray(8 * PAGE_SIZE, 24 * PAGE_SIZE)));
      encodings.push(w.add(30, source.page(30)), w.add(31, source.page(31)));
    });
    expect(encodings).toEqual([true, true, PageEncoding.SameByte, PageEncoding.Raw]);
    readPageBatch(first.payload, sink, sink.onPage, first.rawPageCrcs);
    expect(sink.placements).toEqual({ placed: 19, dropped: 0 });
    expect(map.complete).toBe(true);
    for (const p of [0, ...Array.from({ length: 16 }, (_, k) => 8 + k), 30, 31]) expect(memory.page(p)).toEqual(source.page(p));
    expect([...crcs.keys()].sort((a, b) => a - b)).toEqual([0, ...Array.from({ length: 16 }, (_, k) => 8 + k), 30, 31]);

    // The guest writes page 9 and 31; late copies of them (a push racing an answer) change nothing.
    memory.page(9)[0] = 1;
    memory.page(31)[0] = 2;
    const before9 = memory.page(9).slice();
    const before31 = memory.page(31).slice();
    const late = batch((w) => {
      w.addRun(8, source.slots[0]!.subarray(8 * PAGE_SIZE, 24 * PAGE_SIZE));
      w.add(31, source.page(31));
    });
    readPageBatch(late.payload, sink, sink.onPage, late.rawPageCrcs);
    expect(sink.placements).toEqual({ placed: 19, dropped: 17 });
    expect(memory.page(9)).toEqual(before9);
    expect(memory.page(31)).toEqual(before31);
  });

  it('refuses a delta: it would apply to a copy the guest may have written since', () => {
    const memory = GuestMemory.create(PAGES * PAGE_SIZE);
    const map = PresentMap.create(PAGES, 1);
    map.startPostcopy([5]);
    const sink = new PlacingSink(memory, map);
    const page = textPage(3);
    const changed = page.slice();
    changed[100] = 0x7a;
    const delta = batch((w) => expect(w.add(5, changed, page)).toBe(PageEncoding.Delta));
    expect(() => readPageBatch(delta.payload, sink, sink.onPage, delta.rawPageCrcs)).toThrow(expect.objectContaining({ code: 'LM_ERR_UNEXPECTED_FRAME' }));
    expect(map.isPresent(5)).toBe(false);
  });
});
