import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DIRECT_RAW_ENTRY_BYTES,
  FrameDecoder,
  FrameType,
  MIN_PLACED_RUN_PAGES,
  PageBatchWriter,
  PageChecksums,
  PageEncoding,
  encodeRoundBegin,
  encodeRoundEnd,
  readPageBatch,
  type Frame,
  type PageBatchSlotSink,
} from '@livemig/protocol';
import { crc32, frameBytes, noise, textPage, u32 } from './helpers.js';

// Owned reads with raw pages read straight into guest memory (FrameDecoder.placeRawPagesIn): what the
// destination's data channel does. The socket is played by `feed`, which reads into whatever readTarget names.

const PAGE = 4096;
/** The shortest run placed. */
const R = MIN_PLACED_RUN_PAGES;
type Batch = Frame & { type: typeof FrameType.PageBatch };

/** Source pages: 'r' random (sent Raw), 't' text (lz4), 'z' zero, 's' same-byte, one letter per page. */
function sourceMemory(kinds: string): Buffer {
  const mem = Buffer.from(new SharedArrayBuffer(kinds.length * PAGE));
  [...kinds].forEach((kind, k) => {
    const page = mem.subarray(k * PAGE, (k + 1) * PAGE);
    if (kind === 'r') page.set(noise(PAGE, k + 1));
    else if (kind === 't') page.set(textPage());
    else if (kind === 's') page.fill(0x5a);
  });
  return mem;
}

/** One direct batch of the given pages of `mem`, each added alone, as the source's writer makes it. */
function directBatch(mem: Buffer, indices: number[]): Buffer {
  const writer = new PageBatchWriter();
  writer.direct = true;
  for (const k of indices) expect(writer.add(k, mem.subarray(k * PAGE, (k + 1) * PAGE))).toBeDefined();
  return Buffer.concat(writer.takeParts());
}

/** Guest memory of `pages` pages in slots of `pagesPerSlot`, as the destination's channel sees it. */
function guest(pages: number, pagesPerSlot = pages): { sink: PageBatchSlotSink; slots: Uint8Array[]; bytes(): Buffer } {
  const slots = Array.from({ length: Math.ceil(pages / pagesPerSlot) }, () => new Uint8Array(new SharedArrayBuffer(pagesPerSlot * PAGE)));
  return {
    slots,
    sink: { pageCount: pages, slotOf: (i) => slots[Math.floor(i / pagesPerSlot)]!, offsetOf: (i) => (i % pagesPerSlot) * PAGE },
    bytes: () => Buffer.concat(slots.map((slot) => Buffer.from(slot.buffer))).subarray(0, pages * PAGE),
  };
}

interface Read {
  /** Bytes the target offered, and how many were read into it. */
  offered: number;
  bytes: number;
  intoGuest: boolean;
}

/**
 * Plays the socket: each read takes up to the next of `sizes` (cycling) bytes of `stream`, never more than the
 * target offers, like a `recv` into it. Applies and releases each batch at once, as the channel does.
 */
function feed(decoder: FrameDecoder, stream: Buffer, sizes: number[], g: ReturnType<typeof guest>, table?: PageChecksums) {
  const reads: Read[] = [];
  const batches: Batch[] = [];
  let at = 0;
  while (at < stream.length) {
    const target = decoder.readTarget();
    const bytes = Math.min(target.length, stream.length - at, sizes[reads.length % sizes.length]!);
    stream.copy(target, 0, at, at + bytes);
    at += bytes;
    reads.push({ offered: target.length, bytes, intoGuest: g.slots.some((slot) => slot.buffer === target.buffer) });
    for (const frame of decoder.commitRead(bytes)) {
      if (frame.type !== FrameType.PageBatch) continue;
      batches.push(frame);
      readPageBatch(frame.payload, g.sink, (index, _e, pageCrc) => table?.record(index, pageCrc), frame.rawPageCrcs, frame.rawAt, frame.rawPlaced);
      decoder.release(frame);
    }
  }
  return { reads, batches };
}

const round = (frames: Buffer[]): Buffer => Buffer.concat([encodeRoundBegin({ round: 1, pages: 0 }), ...frames, encodeRoundEnd({ round: 1, pages: 0 })]);

/**
 * One direct batch of every page of a mixed region (runs of R and R + 2 raw pages, which are placed; single raw
 * pages, which go through the frame's buffer; text, zero and same-byte pages), and a decoder placing into a guest.
 */
function mixedBatch() {
  const kinds = `${'r'.repeat(R)}tzsrt${'r'.repeat(R + 2)}zrst`;
  const mem = sourceMemory(kinds);
  const g = guest(kinds.length);
  const decoder = new FrameDecoder();
  decoder.placeRawPagesIn(g.sink);
  const table = PageChecksums.create(kinds.length);
  return { kinds, mem, g, decoder, table, batch: directBatch(mem, [...Array(kinds.length).keys()]) };
}

function sourceTable(mem: Buffer): PageChecksums {
  const table = PageChecksums.create(mem.length / PAGE);
  for (let k = 0; k < mem.length / PAGE; k++) table.record(k, crc32(mem.subarray(k * PAGE, (k + 1) * PAGE)));
  return table;
}

describe('FrameDecoder: raw pages read into guest memory', () => {
  it('reads a run of consecutive raw pages with one read into guest memory when the socket has it all', () => {
    // 48 pages: a default batch (256 KiB of payload) holds 63 raw pages with their entries.
    const mem = sourceMemory('r'.repeat(48));
    const g = guest(48);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const table = PageChecksums.create(48);
    const { reads, batches } = feed(decoder, round([directBatch(mem, [...Array(48).keys()])]), [1 << 20], g, table);
    expect(g.bytes().equals(mem)).toBe(true);
    const intoGuest = reads.filter((read) => read.intoGuest);
    expect(intoGuest).toEqual([{ offered: 48 * PAGE, bytes: 48 * PAGE, intoGuest: true }]);
    // RoundBegin: header and payload; the batch: header, counts, entries, raw run; RoundEnd: header and payload.
    expect(reads).toHaveLength(8);
    expect([...batches[0]!.rawPlaced!]).toEqual(Array(48).fill(1));
    // The entries' CRCs, checked against one CRC over the run where it landed.
    expect([...batches[0]!.rawPageCrcs]).toEqual([...Array(48).keys()].map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE))));
    expect(table.digest([])).toBe(sourceTable(mem).digest([]));
  });

  for (const size of [1, 1000, 4095, 4097, 10_000, 65_536]) {
    it(`a run split across socket reads of ${size} bytes lands whole, each read inside the run`, () => {
      const mem = sourceMemory('r'.repeat(40));
      const g = guest(40);
      const decoder = new FrameDecoder();
      decoder.placeRawPagesIn(g.sink);
      const table = PageChecksums.create(40);
      const { reads } = feed(decoder, round([directBatch(mem, [...Array(40).keys()])]), [size], g, table);
      expect(g.bytes().equals(mem)).toBe(true);
      expect(table.digest([])).toBe(sourceTable(mem).digest([]));
      const guestBytes = reads.filter((read) => read.intoGuest).reduce((sum, read) => sum + read.bytes, 0);
      expect(guestBytes).toBe(40 * PAGE);
      expect(reads.filter((read) => read.intoGuest)).toHaveLength(Math.ceil((40 * PAGE) / size));
    });
  }

  it('a read that the socket could fill past a run ends at the run: the next read starts the next run', () => {
    // Two runs of R + 4 raw pages with text pages between; the socket always has more than a run.
    const run = R + 4;
    const kinds = 'r'.repeat(run) + 't'.repeat(12) + 'r'.repeat(run);
    const mem = sourceMemory(kinds);
    const g = guest(kinds.length);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const indices = [...Array(run).keys(), ...Array.from({ length: run }, (_, k) => run + 12 + k)];
    const { reads } = feed(decoder, round([directBatch(mem, indices)]), [12 * PAGE + 100], g);
    const intoGuest = reads.filter((read) => read.intoGuest);
    // Each run: a read of 12 pages and 100 bytes, then the rest of the run (offered exactly that).
    expect(intoGuest.map((read) => [read.offered, read.bytes])).toEqual([
      [run * PAGE, 12 * PAGE + 100],
      [(run - 12) * PAGE - 100, (run - 12) * PAGE - 100],
      [run * PAGE, 12 * PAGE + 100],
      [(run - 12) * PAGE - 100, (run - 12) * PAGE - 100],
    ]);
    for (const k of indices) expect(g.bytes().subarray(k * PAGE, (k + 1) * PAGE).equals(mem.subarray(k * PAGE, (k + 1) * PAGE))).toBe(true);
  });

  it('mixes raw runs, short raw runs and compressed, zero and same-byte entries in one batch', () => {
    // Runs of R and R + 2 raw pages are placed; the single raw pages go through the frame's buffer.
    const { kinds, mem, g, decoder, table, batch: sent } = mixedBatch();
    const { batches } = feed(decoder, round([sent]), [3000, 70_000], g, table);
    expect(g.bytes().equals(mem)).toBe(true);
    expect(table.digest([])).toBe(sourceTable(mem).digest([]));
    const [batch] = batches;
    expect([...batch!.rawPlaced!]).toEqual([...Array(R).fill(1), 0, ...Array(R + 2).fill(1), 0]);
    const raw = [...kinds].flatMap((kind, k) => (kind === 'r' ? [k] : []));
    expect([...batch!.rawPageCrcs]).toEqual(raw.map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE))));
  });

  it.each([
    ['the first placed run', R - 1],
    ['the single page after it, in the frame buffer', R],
    ['the second placed run', 2 * R + 2],
    ['the last single page', 2 * R + 3],
  ])('a flipped byte in %s shows in the page table at that page alone', (_where, entry) => {
    // The raw region lies in four stretches (guest, frame buffer, guest, frame buffer): each is checked on its own,
    // and a mismatch in one must put its pages' CRCs at their own entries, not at the region's first ones.
    const { kinds, mem, g, decoder, table, batch } = mixedBatch();
    const raw = [...kinds].flatMap((kind, k) => (kind === 'r' ? [k] : []));
    batch[batch.length - (raw.length - entry) * PAGE + 1000] ^= 0x04;
    const { batches } = feed(decoder, round([batch]), [3000, 70_000], g, table);
    expect([...batches[0]!.rawPlaced!]).toEqual([...Array(R).fill(1), 0, ...Array(R + 2).fill(1), 0]);
    const differing: number[] = [];
    table.collectDiffering(0, [...Array(kinds.length).keys()].map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE))), differing);
    expect(differing).toEqual([raw[entry]]);
  });

  it('a batch whose raw pages are not consecutive is read into its buffer and copied, as before', () => {
    const kinds = 'rt'.repeat(16);
    const mem = sourceMemory(kinds);
    const g = guest(kinds.length);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const table = PageChecksums.create(kinds.length);
    const { reads, batches } = feed(decoder, round([directBatch(mem, [...Array(kinds.length).keys()])]), [1 << 20], g, table);
    expect(g.bytes().equals(mem)).toBe(true);
    expect(table.digest([])).toBe(sourceTable(mem).digest([]));
    expect(reads.some((read) => read.intoGuest)).toBe(false);
    expect(batches[0]!.rawPlaced).toBeUndefined();
    expect(batches[0]!.rawPageCrcs).not.toContain(-1);
  });

  it('splits a run of consecutive pages where guest memory changes slot', () => {
    const mem = sourceMemory('r'.repeat(2 * R + 8));
    const g = guest(2 * R + 8, R + 8);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const { reads } = feed(decoder, round([directBatch(mem, [...Array(2 * R + 8).keys()])]), [1 << 20], g);
    expect(g.bytes().equals(mem)).toBe(true);
    expect(reads.filter((read) => read.intoGuest).map((read) => read.bytes)).toEqual([(R + 8) * PAGE, R * PAGE]);
  });

  it(`places nothing outside a round, nor while an earlier batch is not released (runs of ${MIN_PLACED_RUN_PAGES}+ pages)`, () => {
    const mem = sourceMemory('r'.repeat(2 * R));
    const g = guest(2 * R);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const outside = feed(decoder, directBatch(mem, [...Array(R).keys()]), [1 << 20], g);
    expect(outside.reads.some((read) => read.intoGuest)).toBe(false);
    expect(outside.batches[0]!.rawPlaced).toBeUndefined();

    // Held, not released: the next batch is read into its own buffer.
    const held = new FrameDecoder();
    held.placeRawPagesIn(g.sink);
    const stream = round([directBatch(mem, [...Array(R).keys()]), directBatch(mem, Array.from({ length: R }, (_, k) => R + k))]);
    const frames: Frame[] = [];
    let intoGuest = 0;
    for (let at = 0; at < stream.length; ) {
      const target = held.readTarget();
      const bytes = Math.min(target.length, stream.length - at);
      stream.copy(target, 0, at, at + bytes);
      at += bytes;
      if (target.buffer === g.slots[0]!.buffer) intoGuest += bytes;
      frames.push(...held.commitRead(bytes));
    }
    const batches = frames.filter((frame): frame is Batch => frame.type === FrameType.PageBatch);
    expect(intoGuest).toBe(R * PAGE);
    expect(batches[0]!.rawPlaced).toBeDefined();
    expect(batches[1]!.rawPlaced).toBeUndefined();
  });

  it('a flipped byte in the head fails the frame check before any byte reaches guest memory', () => {
    const mem = sourceMemory('r'.repeat(R));
    const g = guest(R);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const batch = directBatch(mem, [...Array(R).keys()]);
    batch[16 + 8 + 2] ^= 0x01; // inside the first entry's page index
    expect(() => feed(decoder, round([batch]), [1 << 20], g)).toThrow(expect.objectContaining({ code: 'LM_ERR_CRC_MISMATCH' }));
    expect(g.bytes().equals(Buffer.alloc(R * PAGE))).toBe(true);
  });

  it('a flipped byte in a placed raw page passes the decoder and shows in the page table (repair at commit)', () => {
    const mem = sourceMemory('r'.repeat(R));
    const g = guest(R);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const batch = directBatch(mem, [...Array(R).keys()]);
    batch[batch.length - 3 * PAGE + 77] ^= 0x10; // page R - 3, in the raw region
    const table = PageChecksums.create(R);
    feed(decoder, round([batch]), [1 << 20], g, table);
    const differing: number[] = [];
    table.collectDiffering(0, [...Array(R).keys()].map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE))), differing);
    expect(differing).toEqual([R - 3]);
  });

  it('a flipped byte in a raw page read into the frame buffer shows in the page table as that page alone', () => {
    const mem = sourceMemory('r'.repeat(R));
    const decoder = new FrameDecoder();
    const batch = directBatch(mem, [...Array(R).keys()]);
    batch[batch.length - 5 * PAGE + 4095] ^= 0x01; // the last byte of page R - 5
    const [frame] = decoder.push(batch);
    const sent = [...Array(R).keys()].map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE)));
    const table = PageChecksums.create(R);
    readPageBatch(frame!.payload, guest(R).sink, (index, _e, pageCrc) => table.record(index, pageCrc), frame!.rawPageCrcs, frame!.rawAt);
    const differing: number[] = [];
    table.collectDiffering(0, Uint32Array.from(sent), differing);
    expect(differing).toEqual([R - 5]);
    expect(table.digest([])).not.toBe(sourceTable(mem).digest([]));
  });

  it('a batch naming a page twice is applied in entry order, not placed', () => {
    const mem = sourceMemory('r'.repeat(R));
    const g = guest(R);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const writer = new PageBatchWriter();
    writer.direct = true;
    writer.addZero(3);
    for (let k = 0; k < R; k++) writer.add(k, mem.subarray(k * PAGE, (k + 1) * PAGE));
    const { reads, batches } = feed(decoder, round([Buffer.concat(writer.takeParts())]), [1 << 20], g);
    expect(reads.some((read) => read.intoGuest)).toBe(false);
    expect(batches[0]!.rawPlaced).toBeUndefined();
    expect(g.bytes().equals(mem)).toBe(true);
    expect(batches[0]!.payload.readUInt8(8 + 4)).toBe(PageEncoding.Zero);
  });

  it('after a batch that could not be placed, reads the next ones whole, and looks again at the 16th', () => {
    const pages = 17 * R;
    const mem = sourceMemory('r'.repeat(pages));
    const g = guest(pages);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    // First every other page of the first R * 2 (no run), then 16 batches of R consecutive pages each.
    const scattered = directBatch(mem, Array.from({ length: R }, (_, k) => 2 * k));
    const runs = Array.from({ length: 16 }, (_, b) => directBatch(mem, Array.from({ length: R }, (_, k) => (b + 1) * R + k)));
    const { batches } = feed(decoder, round([scattered, ...runs]), [1 << 20], g);
    expect(batches.map((batch) => batch.rawPlaced !== undefined)).toEqual([false, ...Array(15).fill(false), true]);
    expect(g.bytes().subarray(R * PAGE).equals(mem.subarray(R * PAGE))).toBe(true);
  });

  it('a head whose entries length is 0 before a raw region is read through and refused, not looped on', () => {
    // No entries, one page of raw region: the frame check passes (it covers the head), the reader refuses it.
    const head = Buffer.from([...u32(0), ...u32(0)]);
    const payload = Buffer.concat([head, Buffer.from(noise(PAGE, 3))]);
    const crc = crc32(head, crc32(frameBytes(FrameType.PageBatchDirect, payload).subarray(0, 12)));
    const g = guest(4);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    expect(() => feed(decoder, round([frameBytes(FrameType.PageBatchDirect, payload, { crc })]), [1 << 20], g)).toThrow(
      expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }),
    );
    expect(g.bytes().equals(Buffer.alloc(4 * PAGE))).toBe(true);
  });

  it('property: any read sizes over batches of any page kinds leave guest memory and the page table as the source has them', () => {
    const kinds = fc.constantFrom('r', 'r', 'r', 't', 'z', 's');
    fc.assert(
      // Runs of one kind, up to 120 pages in all (no batch over 60).
      fc.property(fc.array(fc.tuple(kinds, fc.integer({ min: 1, max: 30 })), { minLength: 1, maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 80_000 }), { minLength: 1, maxLength: 8 }), (runs, sizes) => {
        const pages = runs.map(([kind, length]) => kind.repeat(length)).join('').slice(0, 120);
        const mem = sourceMemory(pages);
        const g = guest(pages.length, 40);
        const decoder = new FrameDecoder();
        decoder.placeRawPagesIn(g.sink);
        const table = PageChecksums.create(pages.length);
        // Three batches of different heads, so that the guessed entries length is short, long or right.
        const cuts = [0, Math.ceil(pages.length / 4), Math.ceil((pages.length * 3) / 4), pages.length];
        const batches = [0, 1, 2].map((b) => directBatch(mem, Array.from({ length: cuts[b + 1]! - cuts[b]! }, (_, k) => cuts[b]! + k)));
        feed(decoder, round(batches.filter((batch) => batch.length > 24)), sizes, g, table);
        expect(g.bytes().equals(mem)).toBe(true);
        expect(table.digest([])).toBe(sourceTable(mem).digest([]));
      }),
      { numRuns: 60 },
    );
  });

  it('property: one flipped byte in any raw region, over any read sizes and slots, shows in the page table at exactly the page it landed in', () => {
    // The raw pages' CRCs come from the entries when one CRC over a stretch agrees with them combined, else page by
    // page: either way the table must hold the CRC of what landed, whatever the stretches (frame buffer, guest
    // slots, the part a guessed entries length read early) and wherever the flip falls among them.
    const kinds = fc.constantFrom('r', 'r', 'r', 't', 'z', 's');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(kinds, fc.integer({ min: 1, max: 30 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 80_000 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(1, 7, 16, 40),
        fc.nat(),
        fc.nat(),
        (runs, sizes, pagesPerSlot, whichBatch, where) => {
          const pages = runs.map(([kind, length]) => kind.repeat(length)).join('').slice(0, 120);
          const mem = sourceMemory(pages);
          const g = guest(pages.length, pagesPerSlot);
          const decoder = new FrameDecoder();
          decoder.placeRawPagesIn(g.sink);
          const table = PageChecksums.create(pages.length);
          const cuts = [0, Math.ceil(pages.length / 4), Math.ceil((pages.length * 3) / 4), pages.length];
          const batches = [0, 1, 2]
            .map((b) => directBatch(mem, Array.from({ length: cuts[b + 1]! - cuts[b]! }, (_, k) => cuts[b]! + k)))
            .filter((batch) => batch.length > 24);
          const withRaw = batches.filter((batch) => batch.length > 16 + 8 + batch.readUInt32BE(20));
          fc.pre(withRaw.length > 0);
          const hit = withRaw[whichBatch % withRaw.length]!;
          const rawBytes = hit.length - (16 + 8 + hit.readUInt32BE(20));
          hit[hit.length - rawBytes + (where % rawBytes)] ^= 0x20;
          feed(decoder, round(batches), sizes, g, table);
          const landed = g.bytes();
          const damaged = [...Array(pages.length).keys()].filter((k) => !landed.subarray(k * PAGE, (k + 1) * PAGE).equals(mem.subarray(k * PAGE, (k + 1) * PAGE)));
          expect(damaged).toHaveLength(1);
          const differing: number[] = [];
          table.collectDiffering(0, [...Array(pages.length).keys()].map((k) => crc32(mem.subarray(k * PAGE, (k + 1) * PAGE))), differing);
          expect(differing).toEqual(damaged);
          expect(table.digest([])).not.toBe(sourceTable(mem).digest([]));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("reads a batch's counts and entries in one read when the last batch's entries were as long", () => {
    const mem = sourceMemory('r'.repeat(2 * R));
    const g = guest(2 * R);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const batches = [directBatch(mem, [...Array(R).keys()]), directBatch(mem, Array.from({ length: R }, (_, k) => R + k))];
    const { reads } = feed(decoder, round(batches), [1 << 20], g);
    const entries = DIRECT_RAW_ENTRY_BYTES * R;
    // RoundBegin 2; first batch: header, counts, entries, run; second: header, counts with entries, run; RoundEnd 2.
    expect(reads.map((read) => read.bytes)).toEqual([16, reads[1]!.bytes, 16, 8, entries, R * PAGE, 16, 8 + entries, R * PAGE, 16, reads[10]!.bytes]);
    expect(g.bytes().equals(mem)).toBe(true);
  });

  it('a guessed entries length that reaches into the raw region leaves the pages it reached in the frame buffer', () => {
    // First batch: R text pages then R raw (long head); second: 2R raw pages (short head): its first read takes
    // the counts, its entries and some raw bytes, whose page is copied; the rest of the run is placed.
    const kinds = 't'.repeat(R) + 'r'.repeat(3 * R);
    const mem = sourceMemory(kinds);
    const g = guest(kinds.length);
    const decoder = new FrameDecoder();
    decoder.placeRawPagesIn(g.sink);
    const first = directBatch(mem, [...Array(2 * R).keys()]);
    const second = directBatch(mem, Array.from({ length: 2 * R }, (_, k) => 2 * R + k));
    const table = PageChecksums.create(kinds.length);
    const { batches } = feed(decoder, round([first, second]), [1 << 20], g, table);
    const firstEntries = first.readUInt32BE(20);
    const overshoot = firstEntries - DIRECT_RAW_ENTRY_BYTES * 2 * R;
    expect(overshoot).toBeGreaterThan(0);
    const reached = Math.ceil(overshoot / PAGE);
    expect([...batches[1]!.rawPlaced!]).toEqual([...Array(reached).fill(0), ...Array(2 * R - reached).fill(1)]);
    expect(g.bytes().equals(mem)).toBe(true);
    expect(table.digest([])).toBe(sourceTable(mem).digest([]));
  });
});
