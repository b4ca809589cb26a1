import msgpack from 'msgpack-lite';
import { FrameType, MAX_SHORT_STRING_CHARS } from './constants.js';
import { PageIndexOutOfRangeError } from './errors.js';
import { encodeFrame } from './frame-encoder.js';
import { bytes, fail, integer, own, record, string } from './validate.js';

/**
 * The messages of post-copy (PROTOCOL.md, "Post-copy"), spoken only when Accept agreed to `postcopy-v1`.
 * Page lists travel as one msgpack bin of big-endian u32 page indices: 4 bytes a page, bounded per frame
 * (the frame's payload limit was checked on its header, before anything was buffered), and a decoder checks
 * the length is whole indices before it builds the list. Pages themselves travel in PageBatch frames: on the
 * urgent connection they answer PageRequest, on the data channels after PostcopyRun they are the push.
 */

/** Most pages in one PostcopyDiscard (1 MiB of indices): a larger list is split over several frames. */
export const MAX_DISCARD_PAGES = 262_144;
/** Most pages in one PageRequest: one scan of the fault slots asks for at most one page per vCPU, so this is plenty. */
export const MAX_REQUEST_PAGES = 1024;

/** source -> dest, control: pages not present at the destination (dirtied since last sent, or never sent), ascending. */
export interface PostcopyDiscardMessage { pages: Uint32Array }
/**
 * source -> dest, control, after the discard frames and CpuState: the switch. `discarded` counts the pages of
 * every PostcopyDiscard; `rounds` the pre-copy rounds every data channel carried before it (the destination
 * applies them all before the guest runs). The destination checks both, then runs the guest. The commit point
 * of post-copy.
 */
export interface PostcopyRunMessage { discarded: number; rounds: number }
/** source -> dest, first frame of the urgent connection: the reservation it serves. */
export interface UrgentHelloMessage { reservationId: string }
/** dest -> source, urgent connection: pages a vCPU waits for. */
export interface PageRequestMessage { pages: Uint32Array }
/** source -> dest, control: every page of the discard list has been sent (answered or pushed). */
export interface PostcopyEndMessage { pagesPushed: number; pagesAnswered: number }
/** dest -> source, control: every page is present; the source may let its copy go. */
export interface PostcopyDoneMessage { presentPages: number }

/** A page list for the wire: big-endian u32 indices as one Buffer (msgpack bin). */
export function encodePageList(pages: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(pages.length * 4);
  for (let i = 0; i < pages.length; i++) out.writeUInt32BE(pages[i]! >>> 0, i * 4);
  return out;
}

/** A page list from the wire: whole indices, 1..maxPages of them, strictly ascending when `ascending`. */
function pageList(value: unknown, field: string, maxPages: number, ascending: boolean): Uint32Array {
  const bin = bytes(value, field, maxPages * 4);
  if (bin.length === 0 || bin.length % 4 !== 0) fail(field, `${bin.length} bytes is not 1..${maxPages} u32 page indices`);
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const pages = new Uint32Array(bin.length / 4);
  for (let i = 0; i < pages.length; i++) {
    pages[i] = view.getUint32(i * 4);
    if (ascending && i > 0 && pages[i]! <= pages[i - 1]!) fail(field, `page ${pages[i]} after ${pages[i - 1]}: not strictly ascending`);
  }
  return pages;
}

/**
 * Every index of a decoded page list lies inside a guest of `pageCount` pages (the protocol does not know the
 * geometry; the receiver calls this before it touches a bitmap).
 * @throws PageIndexOutOfRangeError
 */
export function checkPageIndices(pages: Uint32Array, pageCount: number): void {
  for (const page of pages) {
    if (page >= pageCount) throw new PageIndexOutOfRangeError(`page index ${page} outside a guest of ${pageCount} pages`);
  }
}

const MAX_COUNT = 2 ** 32;

export function validatePostcopyDiscard(value: unknown): PostcopyDiscardMessage {
  return { pages: pageList(own(record(value, 'message'), 'pages'), 'pages', MAX_DISCARD_PAGES, true) };
}

export function validatePostcopyRun(value: unknown): PostcopyRunMessage {
  const o = record(value, 'message');
  return { discarded: integer(own(o, 'discarded'), 'discarded', 0, MAX_COUNT), rounds: integer(own(o, 'rounds'), 'rounds', 0, MAX_COUNT) };
}

export function validateUrgentHello(value: unknown): UrgentHelloMessage {
  return { reservationId: string(own(record(value, 'message'), 'reservationId'), 'reservationId', 1, MAX_SHORT_STRING_CHARS) };
}

export function validatePageRequest(value: unknown): PageRequestMessage {
  return { pages: pageList(own(record(value, 'message'), 'pages'), 'pages', MAX_REQUEST_PAGES, false) };
}

export function validatePostcopyEnd(value: unknown): PostcopyEndMessage {
  const o = record(value, 'message');
  return {
    pagesPushed: integer(own(o, 'pagesPushed'), 'pagesPushed', 0, MAX_COUNT),
    pagesAnswered: integer(own(o, 'pagesAnswered'), 'pagesAnswered', 0, MAX_COUNT),
  };
}

export function validatePostcopyDone(value: unknown): PostcopyDoneMessage {
  return { presentPages: integer(own(record(value, 'message'), 'presentPages'), 'presentPages', 0, MAX_COUNT) };
}

// ---- encoders: each message is checked with the decoder's rules first, so a peer never gets what it would refuse ----

const pack = (type: FrameType, fields: object): Buffer => encodeFrame(type, msgpack.encode(fields));

export function encodePostcopyDiscard(m: PostcopyDiscardMessage): Buffer {
  const fields = { pages: encodePageList(m.pages) };
  validatePostcopyDiscard(fields);
  return pack(FrameType.PostcopyDiscard, fields);
}

export function encodePageRequest(m: PageRequestMessage): Buffer {
  const fields = { pages: encodePageList(m.pages) };
  validatePageRequest(fields);
  return pack(FrameType.PageRequest, fields);
}

export const encodePostcopyRun = (m: PostcopyRunMessage): Buffer => pack(FrameType.PostcopyRun, validatePostcopyRun(m));
export const encodeUrgentHello = (m: UrgentHelloMessage): Buffer => pack(FrameType.UrgentHello, validateUrgentHello(m));
export const encodePostcopyEnd = (m: PostcopyEndMessage): Buffer => pack(FrameType.PostcopyEnd, validatePostcopyEnd(m));
export const encodePostcopyDone = (m: PostcopyDoneMessage): Buffer => pack(FrameType.PostcopyDone, validatePostcopyDone(m));
