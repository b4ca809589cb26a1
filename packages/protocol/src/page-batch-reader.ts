import { crc32 } from './crc32.js';
import lz4 from 'lz4';
import { PAGE_SIZE, PageEncoding } from './constants.js';
import {
  BadArgumentError,
  PageDeltaError,
  PageIndexOutOfRangeError,
  PageInflateError,
  TruncatedFrameError,
  UnknownPageEncodingError,
} from './errors.js';
import { ZERO_PAGE_CRC, sameBytePageCrc } from './crc32-combine.js';
import { copyPage, fillPage } from './page-copy.js';
import { applyDelta } from './page-delta.js';

/** Where a page batch lands: the destination's guest memory, one view per page. */
export interface PageBatchSink {
  pageCount: number;
  /** A writable 4096-byte view of page `index`. */
  page(index: number): Uint8Array;
}

/** Where a page batch lands, without a view per page: page `index` is `slotOf(index)[offsetOf(index), +4096)`. */
export interface PageBatchSlotSink {
  pageCount: number;
  slotOf(index: number): Uint8Array;
  offsetOf(index: number): number;
}

/**
 * PageBatch payload, big-endian:
 *
 *   u32 entry count
 *   per entry: u32 page index, u8 encoding, then by encoding
 *     Zero (0):     nothing
 *     SameByte (1): u8 fill byte
 *     Lz4 (2):      u16 compressed length (1..4095), then that many bytes of lz4 block
 *     Raw (3):      4096 bytes
 *     Delta (4):    u16 delta length (1..4095), then that many bytes of delta (page-delta.ts), applied to
 *                   the copy of the page the destination holds
 *
 * Every entry is checked before its page is touched: index < sink.pageCount, known encoding, its bytes
 * present. An lz4 block inflates straight into the page (the inflater is bounds-checked against one page)
 * and must fill it exactly; a delta's records are each checked against the page before they are written.
 * On error, earlier entries have been applied; the caller must discard the image, as any decode error is
 * fatal to the migration.
 *
 * `onPage` is called after each entry is applied, with the CRC-32 of the page it left. A Raw page's CRC is
 * taken from `rawPageCrcs` (the frame's, from FrameDecoder: the CRC check already read those bytes) when
 * given; the CRC of a Zero or SameByte page is known; Lz4 and Delta pages are read once more for theirs.
 *
 * @returns the number of entries.
 * @throws PageIndexOutOfRangeError, UnknownPageEncodingError, PageInflateError, PageDeltaError,
 *   TruncatedFrameError (payload shorter than its entries claim, or bytes after the last entry)
 */
export function readPageBatch(
  payload: Buffer,
  sink: PageBatchSink | PageBatchSlotSink,
  onPage?: (index: number, encoding: PageEncoding, pageCrc: number) => void,
  rawPageCrcs?: readonly number[],
): number {
  let rawSeen = 0;
  const bySlot = 'slotOf' in sink && typeof sink.slotOf === 'function';
  const end = payload.length;
  const need = (at: number, bytes: number, what: string): void => {
    if (at + bytes > end) throw new TruncatedFrameError(`page batch truncated: ${what} needs ${bytes} bytes at offset ${at}, payload has ${end}`);
  };
  need(0, 4, 'entry count');
  const count = payload.readUInt32BE(0);
  // Smallest entry is 5 bytes: reject an impossible count before looping over it.
  if (count * 5 > end - 4) throw new TruncatedFrameError(`page batch truncated: ${count} entries cannot fit in ${end} bytes`);
  let at = 4;
  for (let i = 0; i < count; i++) {
    need(at, 5, `entry ${i}`);
    const index = payload.readUInt32BE(at);
    const encoding = payload[at + 4] as number;
    at += 5;
    if (index >= sink.pageCount) {
      throw new PageIndexOutOfRangeError(`page index ${index} out of range (guest has ${sink.pageCount} pages)`);
    }
    let slot: Uint8Array;
    let offset: number;
    if (bySlot) {
      const s = sink as PageBatchSlotSink;
      slot = s.slotOf(index);
      offset = s.offsetOf(index);
      if (!Number.isInteger(offset) || offset < 0 || offset + PAGE_SIZE > slot.length) {
        throw new BadArgumentError(`sink page ${index} at offset ${offset} does not fit its ${slot.length}-byte slot`);
      }
    } else {
      slot = (sink as PageBatchSink).page(index);
      offset = 0;
      if (slot.length !== PAGE_SIZE) throw new BadArgumentError(`sink page ${index} is ${slot.length} bytes, not ${PAGE_SIZE}`);
    }
    let pageCrc = -1;
    switch (encoding) {
      case PageEncoding.Zero:
        fillPage(slot, offset, 0);
        pageCrc = ZERO_PAGE_CRC;
        break;
      case PageEncoding.SameByte: {
        need(at, 1, `fill byte of page ${index}`);
        const fill = payload[at] as number;
        fillPage(slot, offset, fill);
        if (onPage) pageCrc = sameBytePageCrc(fill);
        at += 1;
        break;
      }
      case PageEncoding.Lz4: {
        const length = blockLength(payload, at, index, 'lz4', need);
        at += 2;
        // The binding inflates into a whole buffer, bounds-checked against its length: a view of exactly the
        // page (~0.14 us) is cheaper than inflating into a scratch page and copying it (~0.3 us), measured.
        const page = offset === 0 && slot.length === PAGE_SIZE ? slot : slot.subarray(offset, offset + PAGE_SIZE);
        const inflated = lz4.decodeBlock(payload, page, at, at + length);
        if (inflated !== PAGE_SIZE) {
          throw new PageInflateError(
            inflated < 0
              ? `lz4 block of page ${index} is corrupt or inflates past ${PAGE_SIZE} bytes (error at ${-inflated})`
              : `lz4 block of page ${index} inflates to ${inflated} bytes, not ${PAGE_SIZE}`,
          );
        }
        at += length;
        break;
      }
      case PageEncoding.Raw:
        need(at, PAGE_SIZE, `raw page ${index}`);
        copyPage(payload, at, slot, offset);
        pageCrc = rawPageCrcs?.[rawSeen++] ?? -1;
        at += PAGE_SIZE;
        break;
      case PageEncoding.Delta: {
        const length = blockLength(payload, at, index, 'delta', need);
        at += 2;
        applyDelta(payload, at, length, slot, offset, index);
        at += length;
        break;
      }
      default:
        throw new UnknownPageEncodingError(`unknown page encoding ${encoding} for page ${index}`);
    }
    if (onPage) {
      if (pageCrc === -1) pageCrc = crc32(offset === 0 && slot.length === PAGE_SIZE ? slot : slot.subarray(offset, offset + PAGE_SIZE));
      onPage(index, encoding as PageEncoding, pageCrc);
    }
  }
  if (at !== end) throw new TruncatedFrameError(`page batch has ${end - at} bytes after its ${count} entries`);
  return count;
}

/** Reads and checks the u16 length (1..4095) of an Lz4 or Delta entry and that its bytes are present. */
function blockLength(
  payload: Buffer,
  at: number,
  index: number,
  kind: 'lz4' | 'delta',
  need: (at: number, bytes: number, what: string) => void,
): number {
  need(at, 2, `${kind} length of page ${index}`);
  const length = payload.readUInt16BE(at);
  if (length < 1 || length >= PAGE_SIZE) {
    const message = `${kind} block length ${length} of page ${index} outside 1..${PAGE_SIZE - 1}`;
    throw kind === 'lz4' ? new PageInflateError(message) : new PageDeltaError(message);
  }
  need(at + 2, length, `${kind} block of page ${index}`);
  return length;
}
