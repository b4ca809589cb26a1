import fc from 'fast-check';
import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameDecoder,
  FrameType,
  MigrationError,
  PageBatchWriter,
  encodeAbort,
  encodeCpuState,
  encodeRoundBegin,
  encodeRoundEnd,
  type Frame,
} from '@livemig/protocol';
import { frameBytes, noise, textPage } from './helpers.js';

// The decoder's second way in (readTarget / commitRead): what a socket with Node's `onread` does, the kernel
// reading into the decoder's own buffers. Every frame must come out as `push` gives it, whatever the read sizes.

/** A control frame of a few dozen bytes. */
const hello = encodeAbort({ code: 'LM_ERR_CANCELLED', message: 'a control frame between page batches' });

/** A page batch with every encoding the writer picks for these pages: raw, lz4, same-byte, zero, lz4 run. */
function batch(salt = 1): Buffer {
  const w = new PageBatchWriter();
  w.add(0, noise(4096, salt));
  w.add(1, textPage());
  w.add(2, new Uint8Array(4096).fill(9));
  w.addZero(3);
  w.addRun(4, Buffer.concat([textPage(), textPage()]));
  return w.takeFrame();
}

/** What `push` gives for whole frames: the reference every other way in is held to. */
const decodeWhole = (bytes: Buffer): Frame[] => new FrameDecoder().push(bytes);

/**
 * Reads `stream` as a socket with `onread` would: each read copies min(target, next size, what is left) bytes
 * into the decoder's read target. `sizes` cycles; a size of 0 means "as much as the target takes".
 */
function readOwned(stream: Buffer, sizes: readonly number[], decoder = new FrameDecoder()): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const target = decoder.readTarget();
    expect(target.length).toBeGreaterThan(0);
    const size = sizes.length === 0 ? 0 : sizes[i % sizes.length]!;
    const n = Math.min(target.length, size === 0 ? Infinity : size, stream.length - at);
    stream.copy(target, 0, at, at + n);
    frames.push(...decoder.commitRead(n));
    at += n;
  }
  expect(decoder.hasPartialFrame).toBe(false);
  decoder.end();
  return frames;
}

/** The error `readOwned` ends with. */
function readOwnedError(stream: Buffer, sizes: readonly number[] = [], options?: { maxPayloadBytes?: number }): MigrationError {
  try {
    readOwned(stream, sizes, new FrameDecoder(options));
  } catch (err) {
    expect(err).toBeInstanceOf(MigrationError);
    return err as MigrationError;
  }
  throw new Error('expected a decode error');
}

describe('FrameDecoder owned reads (readTarget / commitRead)', () => {
  it('a read target never passes the end of the frame: the header, then the rest of the frame', () => {
    const frame = batch();
    const d = new FrameDecoder();
    expect(d.readTarget().length).toBe(16);
    frame.copy(d.readTarget(), 0, 0, 16);
    expect(d.commitRead(16)).toEqual([]);
    expect(d.readTarget().length).toBe(frame.length - 16);
  });

  it('every split offset of a frame sequence gives the frames push gives', () => {
    const small = new PageBatchWriter();
    small.add(0, textPage());
    small.add(1, new Uint8Array(4096).fill(9));
    small.addZero(2);
    const stream = Buffer.concat([hello, small.takeFrame(), encodeRoundBegin({ round: 2, pages: 3 })]);
    const expected = decodeWhole(stream);
    expect(expected).toHaveLength(3);
    for (let at = 1; at <= stream.length; at++) expect(readOwned(stream, [at, 0])).toEqual(expected);
    // With raw pages and a run: every 61st offset (the frame is 16 KiB).
    const big = Buffer.concat([batch(), batch(2)]);
    const bigExpected = decodeWhole(big);
    for (let at = 1; at <= big.length; at += 61) expect(readOwned(big, [at, 0])).toEqual(bigExpected);
  });

  it('one byte per read gives the same frames', () => {
    const stream = Buffer.concat([hello, batch()]);
    expect(readOwned(stream, [1])).toEqual(decodeWhole(stream));
  });

  it('a frame of header only (no payload) completes with its header read', () => {
    const empty = frameBytes(FrameType.PageBatch, Buffer.alloc(0));
    const d = new FrameDecoder();
    empty.copy(d.readTarget());
    expect(d.commitRead(16)).toEqual(decodeWhole(empty));
  });

  it('a released page batch buffer receives the next batch, and a held one is never written', () => {
    const d = new FrameDecoder();
    const [first] = readOwned(batch(1), [], d);
    const d2 = d; // same decoder: the end() above leaves it usable between frames
    const firstCopy = first!.type === FrameType.PageBatch ? Buffer.from(first!.payload) : undefined;
    const [second] = readOwned(batch(2), [], d2);
    if (first!.type !== FrameType.PageBatch || second!.type !== FrameType.PageBatch) throw new Error('not page batches');
    expect(second!.payload.buffer).not.toBe(first!.payload.buffer);
    expect(first!.payload.equals(firstCopy!)).toBe(true);
    d.release(first!);
    const [third] = readOwned(batch(3), [], d);
    if (third!.type !== FrameType.PageBatch) throw new Error('not a page batch');
    expect(third!.payload.buffer).toBe(first!.payload.buffer);
    expect(third).toEqual(decodeWhole(batch(3))[0]);
  });

  it('a control frame keeps memory of its own (its message may hold views of it)', () => {
    const registers = new Uint8Array([1, 2, 3, 4]);
    const stream = Buffer.concat([encodeCpuState({ registers: [registers] }), batch()]);
    const frames = readOwned(stream, [7]);
    expect(frames[0]).toEqual(decodeWhole(encodeCpuState({ registers: [registers] }))[0]);
  });

  const frameArb = fc.oneof(
    fc.record({ round: fc.integer({ min: 1, max: 0xffffffff }), pages: fc.nat() }).map((m) => encodeRoundBegin(m)),
    fc.record({ round: fc.integer({ min: 1, max: 0xffffffff }), pages: fc.nat() }).map((m) => encodeRoundEnd(m)),
    fc.record({ code: fc.string({ minLength: 1, maxLength: 20 }), message: fc.string({ maxLength: 300 }) }).map((m) => encodeAbort(m)),
    fc.integer({ min: 1, max: 1000 }).map((salt) => batch(salt)),
  );

  it('property: arbitrary read sizes of a random frame sequence decode as push decodes them', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 12 }), (frames, sizes) => {
        const stream = Buffer.concat(frames);
        expect(readOwned(stream, sizes)).toEqual(decodeWhole(stream));
      }),
      { numRuns: 150 },
    );
  });
});

describe('FrameDecoder owned reads: malformed input gives the typed errors push gives', () => {
  const roundBegin = msgpack.encode({ round: 1, pages: 2 });

  it.each([
    ['bad magic', frameBytes(0x10, roundBegin, { magic: 0xdeadbeef }), 'LM_ERR_BAD_MAGIC'],
    ['unknown version', frameBytes(0x10, roundBegin, { version: 3 }), 'LM_ERR_UNSUPPORTED_VERSION'],
    ['unknown frame type', frameBytes(0x5f, roundBegin), 'LM_ERR_UNKNOWN_FRAME_TYPE'],
    ['nonzero flags', frameBytes(0x10, roundBegin, { flags: 0x8000 }), 'LM_ERR_BAD_FLAGS'],
    ['CRC mismatch', frameBytes(0x10, roundBegin, { crc: 0x12345678 }), 'LM_ERR_CRC_MISMATCH'],
  ])('%s', (_name, bytes, code) => {
    for (const sizes of [[], [1], [5, 3]]) expect(readOwnedError(bytes, sizes).code).toBe(code);
  });

  it('a flipped bit in a raw page, an entry header or the entry count is a CRC mismatch', () => {
    const frame = batch();
    for (const at of [16 + 2, 16 + 4 + 2, frame.length - 100, 16 + 4 + 5 + 2000]) {
      const bad = Buffer.from(frame);
      bad[at]! ^= 0x10;
      expect(readOwnedError(bad, [4096]).code).toBe('LM_ERR_CRC_MISMATCH');
    }
  });

  it('an oversize length throws as soon as the header is read, before any payload buffer', () => {
    const header = frameBytes(0x11, Buffer.alloc(0), { length: 1025 });
    const d = new FrameDecoder({ maxPayloadBytes: 1024 });
    header.copy(d.readTarget(), 0, 0, 15);
    expect(d.commitRead(15)).toEqual([]);
    header.copy(d.readTarget(), 0, 15, 16);
    expect(() => d.commitRead(1)).toThrow(expect.objectContaining({ code: 'LM_ERR_FRAME_TOO_LARGE' }));
    expect(readOwnedError(frameBytes(0x11, Buffer.alloc(0), { length: DEFAULT_MAX_FRAME_PAYLOAD + 1 })).code).toBe('LM_ERR_FRAME_TOO_LARGE');
  });

  it('a frame before the bad bytes is delivered; then the decoder is dead, the same error on every call', () => {
    const d = new FrameDecoder();
    const good = encodeRoundBegin({ round: 1, pages: 1 });
    good.copy(d.readTarget(), 0, 0, 16);
    d.commitRead(16);
    good.copy(d.readTarget(), 0, 16);
    expect(d.commitRead(good.length - 16)).toHaveLength(1);
    const bad = frameBytes(0x10, roundBegin, { magic: 0 });
    bad.copy(d.readTarget(), 0, 0, 16);
    let first: unknown;
    try {
      d.commitRead(16);
    } catch (err) {
      first = err;
    }
    expect(first).toMatchObject({ code: 'LM_ERR_BAD_MAGIC' });
    expect(d.readTarget().length).toBeGreaterThan(0);
    expect(() => d.commitRead(1)).toThrow(first as Error);
    expect(() => d.end()).toThrow(first as Error);
  });

  it('end() inside a header or a payload throws LM_ERR_TRUNCATED', () => {
    const frame = batch();
    for (const cut of [7, 16, 100, frame.length - 1]) {
      const d = new FrameDecoder();
      let at = 0;
      while (at < cut) {
        const target = d.readTarget();
        const n = Math.min(target.length, cut - at);
        frame.copy(target, 0, at, at + n);
        d.commitRead(n);
        at += n;
      }
      expect(() => d.end()).toThrow(expect.objectContaining({ code: 'LM_ERR_TRUNCATED' }));
    }
  });

  it('commitRead of more bytes than the target held, or of none, is LM_ERR_BAD_ARGUMENT', () => {
    expect(() => new FrameDecoder().commitRead(17)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    expect(() => new FrameDecoder().commitRead(0)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
  });
});
