import { CHANNEL_GROUP_PAGES, MAX_RUN_PAGES } from '@livemig/protocol';

/**
 * How many pages from `pages[i]` on can go to `PageBatchWriter.addRun` together: entries of the list that are
 * consecutive page numbers (rounds list pages in ascending order), at most MAX_RUN_PAGES, within one slot of guest memory (so they lie back
 * to back) and within one 64-page channel group (so every page of the run belongs to this channel), and none
 * with a cached copy (`hasCopy`): those go one by one, as deltas.
 */
export function runLength(pages: Uint32Array, i: number, pagesPerSlot: number, hasCopy?: (page: number) => boolean): number {
  const first = pages[i]!;
  if (hasCopy?.(first)) return 1;
  const limit = Math.min(
    MAX_RUN_PAGES,
    pages.length - i,
    CHANNEL_GROUP_PAGES - (first % CHANNEL_GROUP_PAGES),
    pagesPerSlot - (first % pagesPerSlot),
  );
  let n = 1;
  while (n < limit && pages[i + n] === first + n && !hasCopy?.(first + n)) n++;
  return n;
}
