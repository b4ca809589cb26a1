import msgpack from 'msgpack-lite';
import { describe, expect, it } from 'vitest';
import {
  FrameDecoder,
  bitmapHas,
  encodePostcopyReceived,
  encodePostcopyResume,
  receivedBitmap,
} from '@livemig/protocol';
import { frameBytes } from './helpers.js';
import { decodeError } from './decode-error.js';

// Post-copy recovery's frames (PROTOCOL.md, "Post-copy recovery"): exact bytes against hand-built frames, and
// every malformed received map refused with LM_ERR_BAD_MESSAGE naming what is wrong.

const MIGRATION_ID = '0123456789abcdef0123456789abcdef';
/** QEMU's RAMBLOCK_RECV_BITMAP_ENDING, written out by hand. */
const END_MARK = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];


describe('post-copy recovery frames', () => {
  it('PostcopyResume is type 0x56: the migration id and the reservation', () => {
    const wire = { migrationId: MIGRATION_ID, reservationId: 'r-1' };
    const bytes = frameBytes(0x56, msgpack.encode(wire));
    expect(encodePostcopyResume(wire)).toEqual(bytes);
    expect(new FrameDecoder().push(bytes)).toEqual([{ type: 0x56, message: wire }]);
  });

  it('PostcopyReceived is type 0x57: pages 0, 9 and 10 of 11 present, the bitmap then the end mark', () => {
    const present = new Set([0, 9, 10]);
    const message = receivedBitmap(11, (page) => present.has(page));
    const wire = { pageCount: 11, presentPages: 3, bitmap: Buffer.from([0b0000_0001, 0b0000_0110, ...END_MARK]) };
    const bytes = frameBytes(0x57, msgpack.encode(wire));
    expect(encodePostcopyReceived(message)).toEqual(bytes);
    const [frame] = new FrameDecoder().push(bytes);
    expect(frame).toMatchObject({ type: 0x57, message: { pageCount: 11, presentPages: 3 } });
    const bitmap = (frame as { message: { bitmap: Uint8Array } }).message.bitmap;
    expect(Array.from({ length: 11 }, (_, page) => bitmapHas(bitmap, page))).toEqual(Array.from({ length: 11 }, (_, page) => present.has(page)));
  });

  it.each([
    ['a map without its end mark', { pageCount: 16, presentPages: 0, bitmap: Buffer.alloc(2) }, /'bitmap': 2 bytes, expected 2 for 16 pages and the 8-byte end mark/],
    ['a wrong end mark', { pageCount: 16, presentPages: 0, bitmap: Buffer.from([0, 0, ...END_MARK.slice(0, 7), 0]) }, /end mark 0x0123456789abcdef is missing/],
    ['a map one byte short', { pageCount: 17, presentPages: 0, bitmap: Buffer.from([0, 0, ...END_MARK]) }, /expected 3 for 17 pages/],
    ['a bit past the last page', { pageCount: 12, presentPages: 1, bitmap: Buffer.from([0, 0x10, ...END_MARK]) }, /bits set past page 11/],
    ['a count that is not the bits set', { pageCount: 8, presentPages: 2, bitmap: Buffer.from([1, ...END_MARK]) }, /'presentPages': 2, but the bitmap has 1/],
    ['more present than pages', { pageCount: 8, presentPages: 9, bitmap: Buffer.from([0xff, ...END_MARK]) }, /'presentPages'/],
    ['no pages at all', { pageCount: 0, presentPages: 0, bitmap: Buffer.from(END_MARK) }, /'pageCount'/],
    ['a bitmap that is not bin', { pageCount: 8, presentPages: 0, bitmap: [0] }, /'bitmap': expected bin/],
    ['a resume without its reservation', { migrationId: MIGRATION_ID }, /reservationId/],
  ])('%s is LM_ERR_BAD_MESSAGE naming the field', (name, wire, message) => {
    const type = name.startsWith('a resume') ? 0x56 : 0x57;
    const error = decodeError(frameBytes(type, msgpack.encode(wire)));
    expect(error.code).toBe('LM_ERR_BAD_MESSAGE');
    expect(error.message).toMatch(message);
  });

  it('the encoder refuses a map whose count is not its bits', () => {
    expect(() => encodePostcopyReceived({ pageCount: 8, presentPages: 3, bitmap: Uint8Array.of(1) })).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_MESSAGE' }));
  });
});
