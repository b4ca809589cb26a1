import {
  DEFAULT_BATCH_PAYLOAD,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_PAGE_INDEX,
  PAGE_SIZE,
  PageEncoding,
} from './constants.js';
import { BadArgumentError } from './errors.js';
import { sealFrame } from './frame-header.js';
import { LZ4_SCRATCH_BYTES, asBuffer, checkPageView, compressPage, isSameBytePage } from './page-encoding.js';

/** Entry header: u32 page index, u8 encoding. */
const ENTRY_HEADER_BYTES = 5;
/** Largest entry: a Raw page. `add` refuses a page unless this much room is left. */
export const MAX_ENTRY_BYTES = ENTRY_HEADER_BYTES + PAGE_SIZE;
/** Payload starts with the u32 entry count. */
const COUNT_BYTES = 4;
const PAYLOAD_START = FRAME_HEADER_BYTES + COUNT_BYTES;

/**
 * Builds PageBatch frames in place: entries are written straight into one preallocated frame buffer and
 * `takeFrame` fills in the count and the header, so a batch costs one allocation.
 *
 * A page may be written by a running vCPU while it is encoded; the encoding then describes some mix of old and
 * new bytes. That is safe because a vCPU marks a page dirty after writing it, so the page is sent again.
 */
export class PageBatchWriter {
  readonly #capacity: number;
  readonly #scratch = Buffer.allocUnsafe(LZ4_SCRATCH_BYTES);
  #frame: Buffer;
  #offset = PAYLOAD_START;
  #pageCount = 0;

  constructor(options: { maxPayloadBytes?: number } = {}) {
    const capacity = options.maxPayloadBytes ?? DEFAULT_BATCH_PAYLOAD;
    if (!Number.isSafeInteger(capacity) || capacity < COUNT_BYTES + MAX_ENTRY_BYTES || capacity > 0xffffffff) {
      throw new BadArgumentError(`maxPayloadBytes must be an integer ${COUNT_BYTES + MAX_ENTRY_BYTES}..0xffffffff, got ${capacity}`);
    }
    this.#capacity = capacity;
    this.#frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + capacity);
  }

  get pageCount(): number {
    return this.#pageCount;
  }

  /** Payload bytes so far, entry count included. */
  get payloadBytes(): number {
    return this.#offset - FRAME_HEADER_BYTES;
  }

  /**
   * Encodes `page` (exactly 4096 bytes; may view a SharedArrayBuffer) by content: all zero -> Zero, one
   * repeated byte -> SameByte, lz4 block shorter than a page -> Lz4, else Raw.
   * @returns the encoding used, or undefined when the batch has no room for a worst-case page
   *   (then call takeFrame() and add again).
   * @throws BadArgumentError for a page that is not 4096 bytes or an index that is not a u32.
   */
  add(pageIndex: number, page: Uint8Array): PageEncoding | undefined {
    checkPageView(page, 'page');
    if (!this.#startEntry(pageIndex)) return undefined;
    const frame = this.#frame;
    const src = asBuffer(page);
    let at = this.#offset + ENTRY_HEADER_BYTES;
    let encoding: PageEncoding;
    if (isSameBytePage(src)) {
      const fill = src[0] ?? 0;
      if (fill === 0) {
        encoding = PageEncoding.Zero;
      } else {
        encoding = PageEncoding.SameByte;
        at = frame.writeUInt8(fill, at);
      }
    } else {
      const compressed = compressPage(src, this.#scratch);
      if (compressed > 0) {
        encoding = PageEncoding.Lz4;
        at = frame.writeUInt16BE(compressed, at);
        at += this.#scratch.copy(frame, at, 0, compressed);
      } else {
        encoding = PageEncoding.Raw;
        at += src.copy(frame, at);
      }
    }
    frame.writeUInt8(encoding, this.#offset + 4);
    this.#offset = at;
    this.#pageCount++;
    return encoding;
  }

  /** Adds a page known to be zero (e.g. never written) without reading it. False when the batch is full. */
  addZero(pageIndex: number): boolean {
    if (!this.#startEntry(pageIndex)) return false;
    this.#offset = this.#frame.writeUInt8(PageEncoding.Zero, this.#offset + 4);
    this.#pageCount++;
    return true;
  }

  /**
   * The finished PageBatch frame (header, payload, CRC). The caller owns the returned Buffer and the writer
   * never touches it again: a mostly full batch hands over its buffer (the writer allocates a fresh one), a
   * mostly empty one is copied out so a short batch does not pin a whole buffer.
   */
  takeFrame(): Buffer {
    let frame = this.#frame.subarray(0, this.#offset);
    frame.writeUInt32BE(this.#pageCount, FRAME_HEADER_BYTES);
    sealFrame(frame, FrameType.PageBatch);
    if (frame.length * 2 < this.#frame.length) {
      frame = Buffer.from(frame);
    } else {
      this.#frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + this.#capacity);
    }
    this.#offset = PAYLOAD_START;
    this.#pageCount = 0;
    return frame;
  }

  /** Checks room for a worst-case entry and writes the page index. */
  #startEntry(pageIndex: number): boolean {
    if (!Number.isInteger(pageIndex) || pageIndex < 0 || pageIndex > MAX_PAGE_INDEX) {
      throw new BadArgumentError(`page index ${pageIndex} is not a u32`);
    }
    if (this.#offset + MAX_ENTRY_BYTES > FRAME_HEADER_BYTES + this.#capacity) return false;
    this.#frame.writeUInt32BE(pageIndex, this.#offset);
    return true;
  }
}
