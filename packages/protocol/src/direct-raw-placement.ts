import { FRAME_HEADER_BYTES, PAGE_SIZE, PageEncoding } from './constants.js';
import { DIRECT_ENTRIES_START } from './page-batch-direct.js';
import type { PageBatchSlotSink } from './page-batch-reader.js';

/**
 * A run of consecutive raw pages shorter than this (64 KiB) is read into the frame's buffer and copied into guest
 * memory when the batch is applied, as before: each run placed costs reads of its own (and one more to come back
 * to the frame's buffer), and a read through Node's `onread` cost more here than copying a few pages. With
 * runs of 4 (the mixed bench image's random pages), placing them took 1.17x the destination's CPU of copying
 * them (docs/PERFORMANCE.md, "Raw pages read into guest memory"). Short runs next to each other are read
 * together into the frame's buffer.
 */
export const MIN_PLACED_RUN_PAGES = 16;

/**
 * Where the raw region of one PageBatchDirect frame is read to. `segments` cover the raw region in wire order,
 * in frame coordinates `[start, end)`: a segment with `guest` goes straight into that view of guest memory (a
 * run of consecutive pages lying back to back there), one without into the frame's own buffer at the same
 * offsets. `placed[k]` is 1 when the k-th raw entry's page is read into guest memory (readPageBatch then leaves
 * it in place).
 */
export interface RawReadPlan {
  segments: { start: number; end: number; guest: Buffer | undefined }[];
  placed: Uint8Array;
}

/** The batch being planned (reused): its raw page indices in entry order; the other entries' first pages and page counts. */
const rawIndices: number[] = [];
const others: number[] = [];
const rawPages = new Set<number>();

/**
 * Plans reading the raw region of a PageBatchDirect frame whose head (header, counts, entries: `frame[0,
 * headEnd)`) is in and has passed its CRC check; `frame[headEnd, readTo)` is in the frame's buffer already (a
 * read that took more than the head), so the pages it reaches into stay there. Returns undefined, so that the
 * whole frame is read into its buffer and decoded as before, when the entries do not make sense (readPageBatch
 * then reports why), when the batch names one page twice (applying it in entry order then matters), or when no
 * run is long enough to pay.
 */
export function planRawReads(frame: Buffer, headEnd: number, sink: PageBatchSlotSink, readTo = headEnd): RawReadPlan | undefined {
  if (!collectEntries(frame, headEnd, sink.pageCount)) return undefined;
  const count = rawIndices.length;
  if (count * PAGE_SIZE !== frame.length - headEnd) return undefined;
  const placed = new Uint8Array(count);
  const segments: RawReadPlan['segments'] = [];
  const read = Math.min(count, Math.ceil((readTo - headEnd) / PAGE_SIZE));
  if (read > 0) segments.push({ start: headEnd, end: headEnd + read * PAGE_SIZE, guest: undefined });
  let anyPlaced = false;
  for (let first = read; first < count; ) {
    const slot = sink.slotOf(rawIndices[first]!);
    const at = slot.byteOffset + sink.offsetOf(rawIndices[first]!);
    let next = first + 1;
    while (next < count && rawIndices[next] === rawIndices[next - 1]! + 1 && backToBack(sink, rawIndices[next]!, slot, at + (next - first) * PAGE_SIZE)) next++;
    const start = headEnd + first * PAGE_SIZE;
    const end = headEnd + next * PAGE_SIZE;
    if (next - first >= MIN_PLACED_RUN_PAGES && at >= slot.byteOffset && at + (next - first) * PAGE_SIZE <= slot.byteOffset + slot.length) {
      segments.push({ start, end, guest: Buffer.from(slot.buffer, at, end - start) });
      placed.fill(1, first, next);
      anyPlaced = true;
    } else {
      const last = segments[segments.length - 1];
      if (last !== undefined && last.guest === undefined) last.end = end;
      else segments.push({ start, end, guest: undefined });
    }
    first = next;
  }
  return anyPlaced ? { segments, placed } : undefined;
}

function backToBack(sink: PageBatchSlotSink, index: number, slot: Uint8Array, at: number): boolean {
  const next = sink.slotOf(index);
  return next.buffer === slot.buffer && next.byteOffset + sink.offsetOf(index) === at;
}

/**
 * Walks the entries (layout in page-batch-reader.ts) into rawIndices; false when an entry is unknown, runs past
 * the head or names a page out of range, or when a raw page is named twice in the batch.
 */
function collectEntries(frame: Buffer, headEnd: number, pageCount: number): boolean {
  rawIndices.length = 0;
  others.length = 0;
  const entries = frame.readUInt32BE(FRAME_HEADER_BYTES);
  let at = FRAME_HEADER_BYTES + DIRECT_ENTRIES_START;
  for (let i = 0; i < entries; i++) {
    if (at + 5 > headEnd) return false;
    const index = frame.readUInt32BE(at);
    const encoding = frame[at + 4];
    at += 5;
    let pages = 1;
    if (encoding === PageEncoding.Raw) {
      if (index >= pageCount) return false;
      rawIndices.push(index);
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
  if (at !== headEnd || rawIndices.length < MIN_PLACED_RUN_PAGES) return false;
  // A page read into guest memory ahead of the entries before it must not be one they write too.
  rawPages.clear();
  for (const index of rawIndices) {
    if (rawPages.has(index)) return false;
    rawPages.add(index);
  }
  for (let k = 0; k < others.length; k += 2) {
    for (let page = others[k]!, last = page + others[k + 1]!; page < last; page++) if (rawPages.has(page)) return false;
  }
  return true;
}
