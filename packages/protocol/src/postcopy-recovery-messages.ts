import msgpack from 'msgpack-lite';
import { FrameType, MAX_SHORT_STRING_CHARS } from './constants.js';
import { migrationId } from './commit-messages.js';
import { encodeFrame } from './frame-encoder.js';
import { bytes, fail, integer, own, record, string } from './validate.js';

/**
 * The messages of post-copy recovery (PROTOCOL.md, "Post-copy recovery"). After the switch a lost connection
 * pauses both sides (`postcopy-paused`); the source then opens a new control connection that starts with
 * PostcopyResume and a new urgent connection (UrgentHello), and the destination answers on the control one with
 * PostcopyReceived: its present map, QEMU's received bitmap (migration/ram.c `ram_dirty_bitmap_reload`), whose
 * trailing end mark proves the whole map arrived. The source then re-sends every page not present.
 */

/** QEMU's RAMBLOCK_RECV_BITMAP_ENDING: the 8 bytes (big-endian) after the bitmap, so a truncated map is caught. */
export const RECEIVED_BITMAP_END_MARK = Buffer.from('0123456789abcdef', 'hex');
/** The bitmap fits one frame under the default payload limit: 4 MiB less room for the map's other fields. */
export const MAX_RECEIVED_BITMAP_BYTES = 4 * 1024 * 1024 - 1024;
/** The largest guest a PostcopyReceived can describe: 8 pages a byte (128 GiB of 4 KiB pages). */
export const MAX_RECEIVED_BITMAP_PAGES = MAX_RECEIVED_BITMAP_BYTES * 8;

/** source -> dest, first frame of a recovery control connection: which paused migration it resumes. */
export interface PostcopyResumeMessage { migrationId: string; reservationId: string }

/**
 * dest -> source, recovery control connection, once both recovery connections are open: which pages are present.
 * `bitmap`: ceil(pageCount / 8) bytes, page p is bit (p % 8) of byte floor(p / 8); on the wire the end mark
 * follows it in the same bin. `presentPages` must equal the bits set; no bit past `pageCount` may be set.
 */
export interface PostcopyReceivedMessage { pageCount: number; presentPages: number; bitmap: Uint8Array }

export function validatePostcopyResume(value: unknown): PostcopyResumeMessage {
  const o = record(value, 'message');
  return {
    migrationId: migrationId(own(o, 'migrationId'), 'migrationId'),
    reservationId: string(own(o, 'reservationId'), 'reservationId', 1, MAX_SHORT_STRING_CHARS),
  };
}

/** Bits set in `bitmap`. */
export function countPresent(bitmap: Uint8Array): number {
  let count = 0;
  for (const byte of bitmap) {
    let b = byte;
    while (b !== 0) {
      b &= b - 1;
      count++;
    }
  }
  return count;
}

/** Whether page `page` is set in a received bitmap. */
export function bitmapHas(bitmap: Uint8Array, page: number): boolean {
  return ((bitmap[page >>> 3]! >>> (page & 7)) & 1) === 1;
}

/** The checks of a wire map: its length, the end mark, no stray bits, the count. @returns the bitmap without the mark */
export function validatePostcopyReceived(value: unknown): PostcopyReceivedMessage {
  const o = record(value, 'message');
  const pageCount = integer(own(o, 'pageCount'), 'pageCount', 1, MAX_RECEIVED_BITMAP_PAGES);
  const presentPages = integer(own(o, 'presentPages'), 'presentPages', 0, pageCount);
  const mapBytes = Math.ceil(pageCount / 8);
  const wire = bytes(own(o, 'bitmap'), 'bitmap', MAX_RECEIVED_BITMAP_BYTES + RECEIVED_BITMAP_END_MARK.length);
  if (wire.length !== mapBytes + RECEIVED_BITMAP_END_MARK.length) {
    fail('bitmap', `${wire.length} bytes, expected ${mapBytes} for ${pageCount} pages and the ${RECEIVED_BITMAP_END_MARK.length}-byte end mark`);
  }
  const bitmap = wire.subarray(0, mapBytes);
  if (!Buffer.from(wire.buffer, wire.byteOffset + mapBytes, RECEIVED_BITMAP_END_MARK.length).equals(RECEIVED_BITMAP_END_MARK)) {
    fail('bitmap', 'the end mark 0x0123456789abcdef is missing: the map is truncated or garbled');
  }
  const spare = pageCount % 8;
  if (spare !== 0 && bitmap[mapBytes - 1]! >>> spare !== 0) fail('bitmap', `bits set past page ${pageCount - 1}`);
  const counted = countPresent(bitmap);
  if (counted !== presentPages) fail('presentPages', `${presentPages}, but the bitmap has ${counted} pages set`);
  return { pageCount, presentPages, bitmap };
}

const pack = (type: FrameType, fields: object): Buffer => encodeFrame(type, msgpack.encode(fields));

export const encodePostcopyResume = (m: PostcopyResumeMessage): Buffer => pack(FrameType.PostcopyResume, validatePostcopyResume(m));

/** PostcopyReceived: the bitmap with the end mark appended (validated first, as the peer will). */
export function encodePostcopyReceived(m: PostcopyReceivedMessage): Buffer {
  const fields = { pageCount: m.pageCount, presentPages: m.presentPages, bitmap: Buffer.concat([m.bitmap, RECEIVED_BITMAP_END_MARK]) };
  validatePostcopyReceived(fields);
  return pack(FrameType.PostcopyReceived, fields);
}

/** A received bitmap of `pageCount` pages from a presence test. */
export function receivedBitmap(pageCount: number, isPresent: (page: number) => boolean): PostcopyReceivedMessage {
  const bitmap = new Uint8Array(Math.ceil(pageCount / 8));
  let presentPages = 0;
  for (let page = 0; page < pageCount; page++) {
    if (!isPresent(page)) continue;
    bitmap[page >>> 3]! |= 1 << (page & 7);
    presentPages++;
  }
  return { pageCount, presentPages, bitmap };
}
