import { CHANNEL_GROUP_PAGES, MAX_RUN_PAGES } from '@livemig/protocol';

/**
 * How many pages from `pages[i]` on can go to `PageBatchWriter.addRun` together: entries of the list that are
 * consecutive page numbers (rounds list pages in ascending order), at most MAX_RUN_PAGES, within one slot of
 * guest memory (so they lie back to back) and within one 64-page channel group, and none with a cached copy
 * (`hasCopy`, asked from the second page on: the caller sends `pages[i]` alone if it has one): those go one
 * by one, as deltas. `pages` is this channel's share, so with two or more channels a run cannot cross a group
 * anyway; the group bound keeps runs the same with one channel.
 */
export function runLength(pages: Uint32Array, i: number, pagesPerSlot: number, hasCopy?: (page: number) => boolean): number {
  const first = pages[i]!;
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
