import {
  DEFAULT_BATCH_PAYLOAD,
  DEFAULT_MAX_DELTA_BYTES,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_PAGE_INDEX,
  MAX_RUN_PAGES,
  PAGE_SIZE,
} from './constants.js';
import { sealFrameWithTailCrc } from './frame-header.js';
import { BadArgumentError } from './errors.js';
import type { PageBatchWriterOptions } from './page-batch-types.js';

/** The PageBatch layout as PageBatchWriter writes it (page-batch-reader.ts has the whole format). */

/** Entry header: u32 page index, u8 encoding. */
export const ENTRY_HEADER_BYTES = 5;
/** Largest entry: a Raw page. `add` refuses a page unless this much room is left. */
export const MAX_ENTRY_BYTES = ENTRY_HEADER_BYTES + PAGE_SIZE;
/**
 * Longest lz4 block or delta the writer emits: its entry (5 + u16 length + block) is then smaller than a Raw
 * entry, so a Raw entry stays the worst case. (The reader accepts up to 4095.)
 */
export const MAX_WRITTEN_BLOCK = MAX_ENTRY_BYTES - ENTRY_HEADER_BYTES - 2 - 1;
/** Lz4Run entry header: the entry header, then u8 page count and u32 block length. */
export const RUN_HEADER_BYTES = ENTRY_HEADER_BYTES + 1 + 4;
/** Payload starts with the u32 entry count. */
export const COUNT_BYTES = 4;
export const PAYLOAD_START = FRAME_HEADER_BYTES + COUNT_BYTES;

/** The writer's options, checked, with their defaults. @throws BadArgumentError */
export function checkedWriterOptions(options: PageBatchWriterOptions): { capacity: number; maxDelta: number } {
  const capacity = options.maxPayloadBytes ?? DEFAULT_BATCH_PAYLOAD;
  if (!Number.isSafeInteger(capacity) || capacity < COUNT_BYTES + MAX_ENTRY_BYTES || capacity > 0xffffffff) {
    throw new BadArgumentError(`maxPayloadBytes must be an integer ${COUNT_BYTES + MAX_ENTRY_BYTES}..0xffffffff, got ${capacity}`);
  }
  const maxDelta = options.maxDeltaBytes ?? DEFAULT_MAX_DELTA_BYTES;
  if (!Number.isSafeInteger(maxDelta) || maxDelta < 0 || maxDelta > PAGE_SIZE - 1) {
    throw new BadArgumentError(`maxDeltaBytes must be an integer 0..${PAGE_SIZE - 1}, got ${maxDelta}`);
  }
  return { capacity, maxDelta: Math.min(maxDelta, MAX_WRITTEN_BLOCK) };
}

/** @throws BadArgumentError for an index that is not a u32 */
export function checkPageIndex(pageIndex: number): void {
  if (!Number.isInteger(pageIndex) || pageIndex < 0 || pageIndex > MAX_PAGE_INDEX) {
    throw new BadArgumentError(`page index ${pageIndex} is not a u32`);
  }
}

/** Pages in a run for addRun. @throws BadArgumentError for a view that is not 2..16 whole pages, or indices that are not u32s */
export function checkedRunLength(firstIndex: number, pages: Uint8Array): number {
  const count = pages.length / PAGE_SIZE;
  if (!Number.isInteger(count) || count < 2 || count > MAX_RUN_PAGES) {
    throw new BadArgumentError(`a run is 2..${MAX_RUN_PAGES} whole pages, got ${pages.length} bytes`);
  }
  if (!Number.isInteger(firstIndex) || firstIndex < 0 || firstIndex + count - 1 > MAX_PAGE_INDEX) {
    throw new BadArgumentError(`pages ${firstIndex}..${firstIndex + count - 1} are not u32 indices`);
  }
  return count;
}

/** Writes an Lz4Run or ZstdRun entry's header before its `length`-byte block; returns where the entry ends. */
export function writeRunHeader(frame: Buffer, entry: number, firstIndex: number, encoding: number, count: number, length: number): number {
  frame.writeUInt32BE(firstIndex, entry);
  frame[entry + 4] = encoding;
  frame[entry + 5] = count;
  frame.writeUInt32BE(length, entry + 6);
  return entry + RUN_HEADER_BYTES + length;
}

/**
 * Fills in a finished batch's counts and frame header: `head` is the frame up to its last entry, the entries
 * start at `entriesStart` (PAYLOAD_START in a PageBatch; later in a PageBatchDirect, whose `rawBytes` of pages
 * follow the head) and `entriesCrc` is their CRC-32 from there.
 */
export function sealBatch(head: Buffer, entryCount: number, entriesStart: number, entriesCrc: number, rawBytes: number): void {
  head.writeUInt32BE(entryCount, FRAME_HEADER_BYTES);
  const direct = entriesStart !== PAYLOAD_START;
  if (direct) head.writeUInt32BE(head.length - entriesStart, FRAME_HEADER_BYTES + 4);
  const type = direct ? FrameType.PageBatchDirect : FrameType.PageBatch;
  sealFrameWithTailCrc(head, type, entriesStart, entriesCrc, head.length - FRAME_HEADER_BYTES + rawBytes);
}
