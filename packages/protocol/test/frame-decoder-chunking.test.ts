import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  PageBatchWriter,
  encodeAbort,
  encodeCpuState,
  encodeHello,
  encodeRoundBegin,
  type Frame,
} from '@livemig/protocol';
import { noise, textPage } from './helpers.js';

const hello = encodeHello({
  protocolVersion: 1,
  capabilities: ['lz4'],
  guestId: 'g',
  migrationId: 'm',
  geometry: { pageSize: 4096, memoryBytes: 4 * 4096, slotBytes: 4096, vcpus: 1 },
  workload: { name: 'w', seed: 1, ops: 2, params: {} },
});

function batch(): Buffer {
  const w = new PageBatchWriter();
  w.add(0, textPage());
  w.add(1, new Uint8Array(4096).fill(9));
  w.addZero(2);
  return w.takeFrame();
}

function decodeWhole(bytes: Buffer): Frame[] {
  const d = new FrameDecoder();
  const frames = d.push(bytes);
  d.end();
  return frames;
}

function decodeChunks(chunks: Buffer[]): Frame[] {
  const d = new FrameDecoder();
  const frames = chunks.flatMap((c) => d.push(c));
  expect(d.hasPartialFrame).toBe(false);
  d.end();
  return frames;
}

describe('FrameDecoder chunking', () => {
  it('every split offset of one frame gives the same frame', () => {
    for (const frame of [hello, batch()]) {
      const expected = decodeWhole(frame);
      expect(expected).toHaveLength(1);
      for (let at = 0; at <= frame.length; at++) {
        const d = new FrameDecoder();
        const first = d.push(frame.subarray(0, at));
        expect(d.hasPartialFrame).toBe(at > 0 && at < frame.length);
        const rest = d.push(frame.subarray(at));
        d.end();
        expect([...first, ...rest]).toEqual(expected);
      }
    }
  });

  it('every split offset of two concatenated frames gives both frames', () => {
    const stream = Buffer.concat([hello, batch(), encodeRoundBegin({ round: 2, pages: 3 })]);
    const expected = decodeWhole(stream);
    expect(expected).toHaveLength(3);
    for (let at = 0; at <= stream.length; at++) {
      expect(decodeChunks([stream.subarray(0, at), stream.subarray(at)])).toEqual(expected);
    }
  });

  it('one byte at a time gives the same frames', () => {
    const stream = Buffer.concat([hello, batch()]);
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(decodeChunks(chunks)).toEqual(decodeWhole(stream));
  });

  it('a PageBatch payload stays intact after later pushes (the decoder never reuses a buffer)', () => {
    const frame = batch();
    const d = new FrameDecoder();
    const held: Frame[] = [];
    for (let at = 0; at < frame.length; at += 1000) held.push(...d.push(Buffer.from(frame.subarray(at, at + 1000))));
    const copy = held.map((f) => ('payload' in f ? Buffer.from(f.payload) : undefined));
    for (let i = 0; i < 5; i++) d.push(Buffer.from(frame));
    expect(held.map((f) => ('payload' in f ? f.payload : undefined))).toEqual(copy);
  });

  const frameArb = fc.oneof(
    fc.record({ round: fc.integer({ min: 1, max: 0xffffffff }), pages: fc.nat() }).map((m) => encodeRoundBegin(m)),
    fc.record({ code: fc.string({ minLength: 1, maxLength: 20 }), message: fc.string({ maxLength: 300 }) }).map((m) => encodeAbort(m)),
    fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }).map((registers) => encodeCpuState({ registers })),
    fc.array(fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('zero', 'same', 'text', 'noise'), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }).map((pages) => {
      const w = new PageBatchWriter();
      for (const [index, kind, n] of pages) {
        const page = kind === 'zero' ? new Uint8Array(4096) : kind === 'same' ? new Uint8Array(4096).fill(n) : kind === 'text' ? textPage() : noise(4096, n);
        w.add(index, page);
      }
      return w.takeFrame();
    }),
  );

  it('property: arbitrary chunking of a random frame sequence decodes identically', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (frames, cuts) => {
        const stream = Buffer.concat(frames);
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          chunks.push(stream.subarray(prev, p));
          prev = p;
        }
        const expected = frames.map((f) => decodeWhole(f)[0]);
        expect(decodeChunks(chunks)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
