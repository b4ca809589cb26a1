import { PAGE_SIZE } from './constants.js';
import { walkDirectEntries, type DirectEntries, type RawStretch } from './direct-raw-crcs.js';
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
  segments: RawStretch[];
  placed: Uint8Array;
}

/** The batch being planned (reused): its raw pages in entry order, and the other entries' first pages and page counts. */
const entries: DirectEntries = { rawIndices: [], rawCrcs: [], others: [] };

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
  const { rawIndices } = entries;
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
 * Walks the entries into `entries`; false when walkDirectEntries refuses them, when fewer than
 * MIN_PLACED_RUN_PAGES are raw, or when a raw page is named twice in the batch (by a raw entry or another).
 */
function collectEntries(frame: Buffer, headEnd: number, pageCount: number): boolean {
  if (!walkDirectEntries(frame, headEnd, pageCount, entries)) return false;
  const { rawIndices, others } = entries;
  if (rawIndices.length < MIN_PLACED_RUN_PAGES) return false;
  // A page read into guest memory ahead of the entries before it must not be one they write too. The source
  // adds a round's pages in ascending order, so raw indices ascend: no repeats among them, and a binary search
  // finds the others' pages; a set only for a batch that is not in order.
  let ascending = true;
  for (let k = 1; k < rawIndices.length && ascending; k++) ascending = rawIndices[k]! > rawIndices[k - 1]!;
  if (!ascending) return noRepeatsBySet(rawIndices, others);
  for (let k = 0; k < others.length; k += 2) if (anyWithin(rawIndices, others[k]!, others[k]! + others[k + 1]!)) return false;
  return true;
}

/** Whether ascending `sorted` holds a value in `[from, to)`. */
function anyWithin(sorted: readonly number[], from: number, to: number): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo < sorted.length && sorted[lo]! < to;
}

function noRepeatsBySet(rawIndices: readonly number[], others: readonly number[]): boolean {
  const rawPages = new Set<number>();
  for (const index of rawIndices) {
    if (rawPages.has(index)) return false;
    rawPages.add(index);
  }
  for (let k = 0; k < others.length; k += 2) {
    for (let page = others[k]!, last = page + others[k + 1]!; page < last; page++) if (rawPages.has(page)) return false;
  }
  return true;
}
