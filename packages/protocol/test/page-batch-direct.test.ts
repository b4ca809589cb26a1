import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  FrameType,
  PageBatchWriter,
  PageChecksums,
  PageEncoding,
  encodeRepairEnd,
  encodeRepairRequest,
  encodeRepairTable,
  readPageBatch,
  requirePlainBatch,
  type Frame,
  type PageCompression,
} from '@livemig/protocol';
import { crc32, frameBytes, noise, u32 } from './helpers.js';

const PAGE = 4096;

/** Guest-like memory: pages in a SharedArrayBuffer. Page k: one kind each, cycling. */
function memory(pages: number): Buffer {
  const mem = Buffer.from(new SharedArrayBuffer(pages * PAGE));
  for (let k = 0; k < pages; k++) {
    const page = mem.subarray(k * PAGE, (k + 1) * PAGE);
    switch (k % 4) {
      case 0: page.fill(0); break;
      case 1: page.fill(0x5a); break;
      case 2: page.write('direct pages are written from guest memory '.repeat(100).slice(0, PAGE), 'latin1'); break;
      default: noise(PAGE, k).forEach((b, i) => (page[i] = b));
    }
  }
  return mem;
}

function decodeOne(bytes: Buffer): Frame & { type: typeof FrameType.PageBatch } {
  const [frame] = new FrameDecoder().push(bytes);
  if (frame?.type !== FrameType.PageBatch) throw new Error('expected a page batch');
  return frame;
}

/** `held`: the destination's copies before the batch (what deltas apply to). */
function applyTo(frame: Frame & { type: typeof FrameType.PageBatch }, pages: number, held?: (target: Buffer) => void) {
  const target = Buffer.from(new SharedArrayBuffer(pages * PAGE));
  held?.(target);
  const table = PageChecksums.create(pages);
  const sink = { pageCount: pages, page: (i: number) => target.subarray(i * PAGE, (i + 1) * PAGE) };
  const applied = readPageBatch(frame.payload, sink, (index, _e, pageCrc) => table.record(index, pageCrc), frame.rawPageCrcs, frame.rawAt);
  return { target, table, applied };
}

describe('PageBatchDirect', () => {
  for (const compression of ['none', 'lz4', 'zstd'] as PageCompression[]) {
    it(`round-trips every encoding (${compression}), single pages, runs and deltas, with the same page table`, () => {
      const pages = 64;
      const mem = memory(pages);
      const previous = Buffer.from(mem.subarray(7 * PAGE, 8 * PAGE));
      previous[100] ^= 1;
      const writer = new PageBatchWriter();
      writer.direct = true;
      writer.compression = compression;
      const table = PageChecksums.create(pages);
      for (let k = 0; k < 32; k++) {
        expect(writer.add(k, mem.subarray(k * PAGE, (k + 1) * PAGE), k === 7 ? previous : undefined)).toBeDefined();
        table.record(k, writer.pageCrc);
      }
      for (let k = 32; k < pages; k += 16) {
        expect(writer.addRun(k, new Uint8Array(mem.buffer, k * PAGE, 16 * PAGE))).toBe(true);
        for (let i = 0; i < 16; i++) table.record(k + i, writer.runPageCrcs[i]!);
      }
      const parts = writer.takeParts();
      const bytes = Buffer.concat(parts);
      expect(bytes[5]).toBe(FrameType.PageBatchDirect);
      expect(bytes.readUInt32BE(8)).toBe(bytes.length - 16);
      // Raw pages are views of the memory, not copies: consecutive ones are one part.
      for (const part of parts.slice(1)) expect(part.buffer).toBe(mem.buffer);
      const frame = decodeOne(bytes);
      expect(frame.rawAt).toBeDefined();
      const { target, table: received, applied } = applyTo(frame, pages, (held) => previous.copy(held, 7 * PAGE));
      expect(applied).toBe(pages);
      expect(target.equals(mem)).toBe(true);
      expect(received.digest([])).toBe(table.digest([]));
      expect(writer.stats.pages.delta).toBe(1);
    });
  }

  it("lays out the payload as counts, entries (a raw page's holds its CRC), then the raw region, CRC over all but that region", () => {
    const mem = memory(4);
    const writer = new PageBatchWriter();
    writer.direct = true;
    writer.add(9, mem.subarray(3 * PAGE, 4 * PAGE)); // random: Raw
    writer.add(5, mem.subarray(0, PAGE)); // zero
    const bytes = Buffer.concat(writer.takeParts());
    const entries = [...u32(9), PageEncoding.Raw, ...u32(crc32(mem.subarray(3 * PAGE, 4 * PAGE))), ...u32(5), PageEncoding.Zero];
    const head = Buffer.from([...u32(2), ...u32(entries.length), ...entries]);
    const payload = Buffer.concat([head, mem.subarray(3 * PAGE, 4 * PAGE)]);
    const expected = frameBytes(FrameType.PageBatchDirect, payload, { crc: crc32(head, crc32(frameBytes(FrameType.PageBatchDirect, payload).subarray(0, 12))) });
    expect(bytes.equals(expected)).toBe(true);
  });

  it('a page changed after it was added (before the write) passes the frame check; only its table entry differs', () => {
    const mem = memory(8);
    const writer = new PageBatchWriter();
    writer.direct = true;
    const table = PageChecksums.create(8);
    for (let k = 0; k < 8; k++) {
      writer.add(k, mem.subarray(k * PAGE, (k + 1) * PAGE));
      table.record(k, writer.pageCrc);
    }
    const parts = writer.takeParts();
    mem[3 * PAGE + 17] ^= 0xff; // a vCPU writes page 3 while the batch waits for the socket
    const { table: received } = applyTo(decodeOne(Buffer.concat(parts)), 8);
    const differing: number[] = [];
    received.collectDiffering(0, table.slice(0, 8), differing);
    expect(differing).toEqual([3]);
    // The page is dirty, so it is sent again: then the tables agree.
    writer.add(3, mem.subarray(3 * PAGE, 4 * PAGE));
    table.record(3, writer.pageCrc);
    const again = decodeOne(Buffer.concat(writer.takeParts()));
    readPageBatch(again.payload, { pageCount: 8, page: () => Buffer.alloc(PAGE) }, (index, _e, crc) => received.record(index, crc), again.rawPageCrcs, again.rawAt);
    expect(received.digest([])).toBe(table.digest([]));
  });

  it('a flipped byte in the header, the counts or an entry fails the frame check; in a raw page only the page table sees it', () => {
    const mem = memory(8);
    const writer = new PageBatchWriter();
    writer.direct = true;
    for (let k = 0; k < 8; k++) writer.add(k, mem.subarray(k * PAGE, (k + 1) * PAGE));
    const good = Buffer.concat(writer.takeParts());
    const rawAt = 16 + 8 + good.readUInt32BE(20);
    const codeAt = (offset: number): string => {
      const bad = Buffer.from(good);
      bad[offset] ^= 0x01;
      try {
        new FrameDecoder().push(bad);
        return 'none';
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    expect(codeAt(13)).toBe('LM_ERR_CRC_MISMATCH'); // the header's CRC field
    expect(codeAt(19)).toBe('LM_ERR_CRC_MISMATCH'); // entry count
    expect(codeAt(16 + 8 + 3)).toBe('LM_ERR_CRC_MISMATCH'); // first entry's page index
    expect(codeAt(16 + 8 + 4)).toBe('LM_ERR_CRC_MISMATCH'); // first entry's encoding
    expect(codeAt(22)).toBe('LM_ERR_TRUNCATED'); // entries length: no whole pages left after it
    expect(codeAt(rawAt + 5)).toBe('none');
    const bad = Buffer.from(good);
    bad[rawAt + 5] ^= 0x01;
    const { table } = applyTo(decodeOne(bad), 8);
    const { table: clean } = applyTo(decodeOne(good), 8);
    expect(table.digest([])).not.toBe(clean.digest([]));
  });

  it('raw pages the entries do not name, or entries without raw pages, are LM_ERR_TRUNCATED', () => {
    const rawEntry = [...u32(0), PageEncoding.Raw];
    const payload = (count: number, rawPages: number) => {
      const entries = Buffer.from(count === 1 ? rawEntry : []);
      return Buffer.concat([Buffer.from([...u32(count), ...u32(entries.length)]), entries, Buffer.alloc(rawPages * PAGE)]);
    };
    const sink = { pageCount: 1, page: () => Buffer.alloc(PAGE) };
    for (const [count, rawPages] of [[1, 0], [0, 1], [1, 2]] as const) {
      const bytes = payload(count, rawPages);
      const head = bytes.subarray(0, bytes.length - rawPages * PAGE);
      const crc = crc32(head, crc32(frameBytes(FrameType.PageBatchDirect, bytes).subarray(0, 12)));
      const frame = decodeOne(frameBytes(FrameType.PageBatchDirect, bytes, { crc }));
      expect(() => readPageBatch(frame.payload, sink, undefined, frame.rawPageCrcs, frame.rawAt)).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }));
    }
  });

  it('counts a raw page sent beside the frame at its full size and its entry in compressibleBytesOut, as a plain batch does', () => {
    // Text pages under none: compressible, so counted, and sent as they are (one alone, then a run of 3).
    const mem = Buffer.from(new SharedArrayBuffer(4 * PAGE));
    mem.write('compressible text, sent as it is under none '.repeat(400).slice(0, 4 * PAGE), 'latin1');
    const out = [true, false].map((direct) => {
      const writer = new PageBatchWriter();
      writer.direct = direct;
      writer.compression = 'none';
      writer.add(0, mem.subarray(0, PAGE));
      writer.addRun(1, new Uint8Array(mem.buffer, PAGE, 3 * PAGE));
      return [writer.compressibleBytesIn, writer.compressibleBytesOut];
    });
    expect(out[1]).toEqual([4 * PAGE, 4 * (PAGE + 5)]);
    // A direct Raw entry carries the page's CRC: 4 bytes more a page on the wire.
    expect(out[0]).toEqual([4 * PAGE, 4 * (PAGE + 9)]);
  });

  it('the form changes only between batches', () => {
    const mem = memory(4);
    const writer = new PageBatchWriter();
    writer.add(0, mem.subarray(3 * PAGE, 4 * PAGE));
    writer.direct = true;
    writer.add(1, mem.subarray(3 * PAGE, 4 * PAGE));
    const plain = writer.takeParts();
    expect(plain).toHaveLength(1);
    expect(plain[0]![5]).toBe(FrameType.PageBatch);
    writer.add(2, mem.subarray(3 * PAGE, 4 * PAGE));
    const direct = writer.takeParts();
    expect(direct[0]![5]).toBe(FrameType.PageBatchDirect);
    writer.add(3, mem.subarray(3 * PAGE, 4 * PAGE));
    expect(() => writer.takeFrame()).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
  });
});

describe('repair messages', () => {
  it('round-trip through the decoder', () => {
    const frames = new FrameDecoder().push(
      Buffer.concat([
        encodeRepairRequest({ pass: 1 }),
        encodeRepairTable({ pass: 1, first: 4, crcs: Uint32Array.from([1, 0xffffffff]) }),
        encodeRepairRequest({ pass: 2, pages: Uint32Array.from([3, 9]) }),
        encodeRepairEnd({ pass: 2, pages: 2 }),
      ]),
    );
    expect(frames.map((f) => f.type)).toEqual([FrameType.RepairRequest, FrameType.RepairTable, FrameType.RepairRequest, FrameType.RepairEnd]);
    const [ask, table, pages, end] = frames;
    expect(ask?.type === FrameType.RepairRequest && ask.message).toEqual({ pass: 1 });
    expect(table?.type === FrameType.RepairTable && [...table.message.crcs]).toEqual([1, 0xffffffff]);
    expect(pages?.type === FrameType.RepairRequest && [...pages.message.pages!]).toEqual([3, 9]);
    expect(end?.type === FrameType.RepairEnd && end.message).toEqual({ pass: 2, pages: 2 });
  });

  it('refuse a pass of 0, pages not ascending, an empty table', () => {
    expect(() => encodeRepairRequest({ pass: 0 })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
    expect(() => encodeRepairRequest({ pass: 1, pages: Uint32Array.from([5, 5]) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
    expect(() => encodeRepairTable({ pass: 1, first: 0, crcs: new Uint32Array(0) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
  });
});

describe('requirePlainBatch', () => {
  it('refuses a decoded PageBatchDirect (rawAt set) and lets a plain PageBatch through', () => {
    expect(() => requirePlainBatch({ rawAt: 24 }, 'on the urgent connection')).toThrow(expect.objectContaining({ code: 'LM_ERR_UNEXPECTED_FRAME' }));
    expect(() => requirePlainBatch({}, 'on the urgent connection')).not.toThrow();
  });
});
