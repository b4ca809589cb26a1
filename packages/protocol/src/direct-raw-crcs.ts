import { crc32 } from './crc32.js';
import { PAGE_CRC_SHIFT } from './crc32-combine.js';
import { FRAME_HEADER_BYTES, PAGE_SIZE, PageEncoding } from './constants.js';
import { DIRECT_ENTRIES_START, checkDirectHead, directRawAt } from './page-batch-direct.js';

/**
 * A Raw entry of a PageBatchDirect: u32 page index, u8 encoding 3, u32 CRC-32 of the page as the source read it
 * (its page table's entry). The page itself travels in the raw region, outside the frame check; the CRC is inside.
 */
export const DIRECT_RAW_ENTRY_BYTES = 9;

/** What `walkDirectEntries` collected (arrays reused by the caller). */
export interface DirectEntries {
  /** Raw entries' page indices, in entry order. */
  rawIndices: number[];
  /** Raw entries' CRCs from the wire, in entry order. */
  rawCrcs: number[];
  /** The other entries' first page and page count, flattened: index, pages, index, pages... */
  others: number[];
}

/**
 * Walks the entries of a PageBatchDirect frame (`frame[FRAME_HEADER_BYTES + DIRECT_ENTRIES_START, headEnd)`, layout
 * in page-batch-reader.ts) into `into`. False when an entry has an unknown encoding, runs past `headEnd`, names a
 * page at or past `pageCount`, or when the entries do not end exactly at `headEnd`: readPageBatch then says why.
 */
export function walkDirectEntries(frame: Buffer, headEnd: number, pageCount: number, into: DirectEntries): boolean {
  const { rawIndices, rawCrcs, others } = into;
  rawIndices.length = 0;
  rawCrcs.length = 0;
  others.length = 0;
  const entries = frame.readUInt32BE(FRAME_HEADER_BYTES);
  let at = FRAME_HEADER_BYTES + DIRECT_ENTRIES_START;
  for (let i = 0; i < entries; i++) {
    if (at + 5 > headEnd) return false;
    const index = frame.readUInt32BE(at);
    const encoding = frame[at + 4];
    at += 5;
    if (index >= pageCount) return false;
    let pages = 1;
    if (encoding === PageEncoding.Raw) {
      if (at + 4 > headEnd) return false;
      rawIndices.push(index);
      rawCrcs.push(frame.readUInt32BE(at));
      at += 4;
      continue;
    } else if (encoding === PageEncoding.SameByte) {
      at += 1;
    } else if (encoding === PageEncoding.Lz4 || encoding === PageEncoding.Delta) {
      if (at + 2 > headEnd) return false;
      at += 2 + frame.readUInt16BE(at);
    } else if (encoding === PageEncoding.Lz4Run || encoding === PageEncoding.ZstdRun) {
      if (at + 5 > headEnd) return false;
      pages = frame[at]!;
      at += 5 + frame.readUInt32BE(at + 1);
    } else if (encoding !== PageEncoding.Zero) {
      return false;
    }
    others.push(index, pages);
  }
  return at === headEnd;
}

/** One stretch of a raw region lying back to back in one buffer: the frame's own, or guest memory. */
export interface RawStretch {
  /** Frame coordinates of the stretch, `[start, end)`: whole pages of the raw region. */
  start: number;
  end: number;
  /** Where its bytes are when not in the frame's buffer at the same offsets (a view of exactly the stretch). */
  guest: Buffer | undefined;
}

const walked: DirectEntries = { rawIndices: [], rawCrcs: [], others: [] };

/**
 * The CRC-32 of each raw page of a PageBatchDirect frame, in entry order, for the destination's page table (one
 * typed array: an array grown page by page cost the destination allocations and their page faults per batch).
 * The frame's head (`frame[0, headEnd)`) has passed its check; the raw region has not, and cannot (a live page may
 * change while the source's kernel copies it). `stretches` say where the raw region's bytes are (default: all in
 * the frame's buffer), in order, covering it.
 *
 * Per stretch, one CRC over its bytes is compared with the CRCs the entries carry, combined (crc32-combine.ts: four
 * table lookups a page). When they agree, the entries' CRCs are the pages' (a CRC-32 over the stretch catches every
 * error burst of up to 32 bits, a flipped byte among them, as each page's would). When they do not (wire corruption,
 * or a page that changed while the source sent it), each page of the stretch is hashed on its own, so the table
 * holds what landed, the digests at commit differ, and repair knows which pages to ask for again. One native call
 * per stretch instead of one per page: the call cost about as much as hashing the page (docs/PERFORMANCE.md).
 *
 * Entries that do not parse, or that do not name one raw page per page of the region, leave no CRC to trust: each
 * page is hashed on its own (readPageBatch then refuses the batch).
 */
export function directRawPageCrcs(frame: Buffer, headEnd: number, stretches?: readonly RawStretch[]): Uint32Array {
  const pages = (frame.length - headEnd) / PAGE_SIZE;
  const crcs = new Uint32Array(pages);
  const wire = walkDirectEntries(frame, headEnd, Number.MAX_SAFE_INTEGER, walked) && walked.rawCrcs.length === pages ? walked.rawCrcs : undefined;
  if (stretches === undefined) {
    stretchCrcs(frame.subarray(headEnd), wire, 0, crcs);
    return crcs;
  }
  for (const { start, end, guest } of stretches) stretchCrcs(guest ?? frame.subarray(start, end), wire, (start - headEnd) / PAGE_SIZE, crcs);
  return crcs;
}

/** The CRCs of the pages of `bytes` (raw pages `first..` of the region), from `wire` when one CRC over them agrees. */
function stretchCrcs(bytes: Uint8Array, wire: readonly number[] | undefined, first: number, into: Uint32Array): void {
  const pages = bytes.length / PAGE_SIZE;
  if (wire !== undefined) {
    let expected = 0;
    for (let k = 0; k < pages; k++) expected = PAGE_CRC_SHIFT.combine(expected, wire[first + k]!);
    if (crc32(bytes) === expected) {
      for (let k = 0; k < pages; k++) into[first + k] = wire[first + k]!;
      return;
    }
  }
  for (let k = 0; k < pages; k++) into[first + k] = crc32(bytes.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE));
}

/**
 * Checks a whole PageBatchDirect frame's layout and head CRC, and takes the CRC-32 of each raw page (in entry
 * order, for the destination's page table; see directRawPageCrcs).
 * @returns where the raw region starts in the payload, and the raw pages' CRCs
 * @throws TruncatedFrameError for an entries length that does not leave whole pages after it; CrcMismatchError
 */
export function checkDirectBatchFrame(frame: Buffer, expectedCrc: number): { rawAt: number; rawPageCrcs: Uint32Array } {
  const rawAt = directRawAt(frame);
  checkDirectHead(frame, rawAt, expectedCrc);
  return { rawAt, rawPageCrcs: directRawPageCrcs(frame, FRAME_HEADER_BYTES + rawAt) };
}
