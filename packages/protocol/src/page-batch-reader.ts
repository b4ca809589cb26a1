import { crc32 } from './crc32.js';
import lz4 from 'lz4';
import { zstdDecodeBlock } from './page-zstd.js';
import { MAX_RUN_PAGES, PAGE_SIZE, PageEncoding } from './constants.js';
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
import { DIRECT_ENTRIES_START } from './page-batch-direct.js';
import { sparseRunCrcs } from './page-sparse-run.js';

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
 *     Lz4Run (5):   u8 page count n (2..16), u32 block length (1..n * 4096 - 1), then one lz4 block that
 *                   inflates to pages index .. index + n - 1, back to back
 *     ZstdRun (6):  as Lz4Run with n 1..16, and the block one zstd frame
 *
 * Every entry is checked before its page is touched: index < sink.pageCount (every page of a run), known
 * encoding, its bytes present. An lz4 block inflates straight into the page (the inflater is bounds-checked against one page)
 * and must fill it exactly; a delta's records are each checked against the page before they are written.
 * On error, earlier entries have been applied; the caller must discard the image, as any decode error is
 * fatal to the migration.
 *
 * `onPage` is called after each entry is applied, with the CRC-32 of the page it left. A Raw page's CRC is
 * taken from `rawPageCrcs` (the frame's, from FrameDecoder: the CRC check already read those bytes) when
 * given; the CRC of a Zero or SameByte page is known; a sparse Lz4Run's follow from its block (sparseRunCrcs);
 * other Lz4, Lz4Run and Delta pages are read once more for theirs.
 *
 * `rawAt`: the payload is a PageBatchDirect's (a Raw entry's body is the page's CRC; the pages lie in order from
 * `rawAt`). `rawPlaced`: per Raw entry of such a payload, 1 when its page was read straight into the sink already
 * (FrameDecoder.placeRawPagesIn): it is left in place. FrameDecoder's `rawPageCrcs` hold every raw page's CRC,
 * placed or not (directRawPageCrcs); a -1 there (or no `rawPageCrcs`) has the page's CRC taken where it landed.
 *
 * @returns the number of pages (a run's entry holds several).
 * @throws PageIndexOutOfRangeError, UnknownPageEncodingError, PageInflateError, PageDeltaError,
 *   TruncatedFrameError (payload shorter than its entries claim, or bytes after the last entry)
 */
export function readPageBatch(
  payload: Buffer,
  sink: PageBatchSink | PageBatchSlotSink,
  onPage?: (index: number, encoding: PageEncoding, pageCrc: number) => void,
  rawPageCrcs?: ArrayLike<number>,
  rawAt?: number,
  rawPlaced?: Uint8Array,
): number {
  let rawSeen = 0;
  const bySlot = isSlotSink(sink);
  // A PageBatchDirect payload (page-batch-direct.ts): entries up to rawAt, then the raw region.
  const direct = rawAt !== undefined;
  let rawNext = rawAt ?? 0;
  const end = direct ? rawAt : payload.length;
  // `what` and `n` make the message only when it is thrown: a string built per entry cost an allocation a page.
  const need: Need = (at, bytes, what, n) => {
    if (at + bytes > end) {
      throw new TruncatedFrameError(`page batch truncated: ${what}${n === undefined ? '' : ` ${n}`} needs ${bytes} bytes at offset ${at}, payload has ${end}`);
    }
  };
  need(0, 4, 'entry count');
  const count = payload.readUInt32BE(0);
  // Smallest entry is 5 bytes: reject an impossible count before looping over it.
  let at = direct ? DIRECT_ENTRIES_START : 4;
  if (count * 5 > end - at) throw new TruncatedFrameError(`page batch truncated: ${count} entries cannot fit in ${end} bytes`);
  let pages = 0;
  for (let i = 0; i < count; i++) {
    need(at, 5, 'entry', i);
    const index = payload.readUInt32BE(at);
    const encoding = payload[at + 4] as number;
    at += 5;
    if (index >= sink.pageCount) {
      throw new PageIndexOutOfRangeError(`page index ${index} out of range (guest has ${sink.pageCount} pages)`);
    }
    if (encoding === PageEncoding.Lz4Run || encoding === PageEncoding.ZstdRun) {
      need(at, 5, 'run header of page', index);
      const runPages = payload[at] as number;
      const length = payload.readUInt32BE(at + 1);
      applyRun(payload, at + 5, length, { index, count: runPages, encoding }, sink, bySlot, need, onPage);
      at += 5 + length;
      pages += runPages;
      continue;
    }
    locate(sink, bySlot, index, place);
    const { slot, offset } = place;
    let pageCrc = -1;
    switch (encoding) {
      case PageEncoding.Zero:
        fillPage(slot, offset, 0);
        pageCrc = ZERO_PAGE_CRC;
        break;
      case PageEncoding.SameByte: {
        need(at, 1, 'fill byte of page', index);
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
        pageCrc = rawPageCrcs?.[rawSeen] ?? -1;
        rawSeen++;
        if (direct) {
          // The entry's CRC, from the source: FrameDecoder checked the page against it (directRawPageCrcs).
          need(at, 4, 'CRC of raw page', index);
          at += 4;
          if (rawNext + PAGE_SIZE > payload.length) throw new TruncatedFrameError(`raw page ${index}: the raw region has no page left`);
          if (rawPlaced === undefined || rawPlaced[rawSeen - 1] !== 1) copyPage(payload, rawNext, slot, offset);
          rawNext += PAGE_SIZE;
          break;
        }
        need(at, PAGE_SIZE, 'raw page', index);
        copyPage(payload, at, slot, offset);
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
    pages++;
  }
  if (at !== end) throw new TruncatedFrameError(`page batch has ${end - at} bytes after its ${count} entries`);
  if (direct && rawNext !== payload.length) throw new TruncatedFrameError(`direct page batch has ${(payload.length - rawNext) / PAGE_SIZE} raw pages no entry names`);
  return pages;
}

type Need = (at: number, bytes: number, what: string, n?: number) => void;

/** Where a page lands in the sink: `slot[offset, +4096)`. Reused, so that locating a page allocates nothing. */
interface Place {
  slot: Uint8Array;
  offset: number;
}
const place: Place = { slot: new Uint8Array(0), offset: 0 };

function isSlotSink(sink: PageBatchSink | PageBatchSlotSink): sink is PageBatchSlotSink {
  return 'slotOf' in sink && typeof sink.slotOf === 'function';
}

/** `bySlot`: isSlotSink(sink), decided once per batch. */
function locate(sink: PageBatchSink | PageBatchSlotSink, bySlot: boolean, index: number, into: Place): void {
  if (bySlot) {
    const slots = sink as PageBatchSlotSink;
    into.slot = slots.slotOf(index);
    into.offset = slots.offsetOf(index);
    if (!Number.isInteger(into.offset) || into.offset < 0 || into.offset + PAGE_SIZE > into.slot.length) {
      throw new BadArgumentError(`sink page ${index} at offset ${into.offset} does not fit its ${into.slot.length}-byte slot`);
    }
  } else {
    into.slot = (sink as PageBatchSink).page(index);
    into.offset = 0;
    if (into.slot.length !== PAGE_SIZE) throw new BadArgumentError(`sink page ${index} is ${into.slot.length} bytes, not ${PAGE_SIZE}`);
  }
}

/** Where a run inflates when its pages are not back to back in the sink. */
const runScratch = Buffer.alloc(MAX_RUN_PAGES * PAGE_SIZE);
/** A sparse run's page CRCs, worked out from its block (sparseRunCrcs). */
const runCrcs = new Uint32Array(MAX_RUN_PAGES);

/**
 * Inflates the Lz4Run or ZstdRun block at `payload[at, +length)` into pages `index .. index + count - 1`:
 * straight into the sink when they lie back to back in one buffer (guest memory within a slot), else through a
 * scratch buffer. Every check of the entry comes before the first byte is written, and neither inflater writes
 * past the run's pages.
 */
function applyRun(
  payload: Buffer,
  at: number,
  length: number,
  run: { index: number; count: number; encoding: typeof PageEncoding.Lz4Run | typeof PageEncoding.ZstdRun },
  sink: PageBatchSink | PageBatchSlotSink,
  bySlot: boolean,
  need: Need,
  onPage: ((index: number, encoding: PageEncoding, pageCrc: number) => void) | undefined,
): void {
  const { index, count, encoding } = run;
  const zstd = encoding === PageEncoding.ZstdRun;
  const name = zstd ? 'zstd' : 'lz4';
  const fewest = zstd ? 1 : 2;
  if (count < fewest || count > MAX_RUN_PAGES) throw new PageInflateError(`${name} run at page ${index} has ${count} pages, not ${fewest}..${MAX_RUN_PAGES}`);
  if (index + count > sink.pageCount) {
    throw new PageIndexOutOfRangeError(`pages ${index}..${index + count - 1} out of range (guest has ${sink.pageCount} pages)`);
  }
  const bytes = count * PAGE_SIZE;
  if (length < 1 || length >= bytes) throw new PageInflateError(`${name} run block length ${length} of page ${index} outside 1..${bytes - 1}`);
  need(at, length, zstd ? 'zstd run block of page' : 'lz4 run block of page', index);
  locate(sink, bySlot, index, place);
  const first = place.slot;
  const firstAt = first.byteOffset + place.offset;
  let backToBack = true;
  for (let k = 1; k < count && backToBack; k++) {
    locate(sink, bySlot, index + k, place);
    backToBack = place.slot.buffer === first.buffer && place.slot.byteOffset + place.offset === firstAt + k * PAGE_SIZE;
  }
  const target = backToBack ? new Uint8Array(first.buffer, firstAt, bytes) : runScratch.subarray(0, bytes);
  const inflated = zstd ? zstdDecodeBlock(payload.subarray(at, at + length), target) : lz4.decodeBlock(payload, target, at, at + length);
  if (inflated !== bytes) {
    throw new PageInflateError(
      inflated < 0
        ? `${name} run block of page ${index} is corrupt or inflates past ${bytes} bytes${zstd ? '' : ` (error at ${-inflated})`}`
        : `${name} run block of page ${index} inflates to ${inflated} bytes, not ${bytes}`,
    );
  }
  // A sparse run's CRCs follow from its block as they did at the source (page-sparse-run.ts: 140-190 ns a page
  // against 0.5-1 us for the native CRC of the page). The block has inflated to exactly the run, so the symbolic
  // decode sees the bytes the pages hold; anything else is hashed as usual.
  const fromBlock = onPage !== undefined && !zstd && sparseRunCrcs(payload, at, length, count, runCrcs, 0);
  for (let k = 0; k < count; k++) {
    if (!backToBack) {
      locate(sink, bySlot, index + k, place);
      copyPage(runScratch, k * PAGE_SIZE, place.slot, place.offset);
    }
    onPage?.(index + k, encoding, fromBlock ? runCrcs[k]! : crc32(target.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE)));
  }
}

/** Reads and checks the u16 length (1..4095) of an Lz4 or Delta entry and that its bytes are present. */
function blockLength(
  payload: Buffer,
  at: number,
  index: number,
  kind: 'lz4' | 'delta',
  need: Need,
): number {
  need(at, 2, kind === 'lz4' ? 'lz4 length of page' : 'delta length of page', index);
  const length = payload.readUInt16BE(at);
  if (length < 1 || length >= PAGE_SIZE) {
    const message = `${kind} block length ${length} of page ${index} outside 1..${PAGE_SIZE - 1}`;
    throw kind === 'lz4' ? new PageInflateError(message) : new PageDeltaError(message);
  }
  need(at + 2, length, kind === 'lz4' ? 'lz4 block of page' : 'delta block of page', index);
  return length;
}
