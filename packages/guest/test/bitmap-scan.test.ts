import { describe, expect, it } from 'vitest';
import { GuestMemory, PAGE_SIZE } from '@livemig/guest';

// touchedPages() and touchedCount() skip the map's all-zero stretches with a native compare of 256 words at a
// time: pages on either side of those stretches' edges, and in a last stretch shorter than 256 words, must all
// be found, in ascending order.
describe('touched-map scans', () => {
  it('find every touched page across the skipped stretches and in the short last one', () => {
    // 300 words of 32 pages: one full stretch of 256 words and a short one of 44.
    const pageCount = 300 * 32;
    const memory = GuestMemory.create(pageCount * PAGE_SIZE, pageCount * PAGE_SIZE);
    const pages = [0, 31, 32, 255 * 32 + 31, 256 * 32, 257 * 32 + 5, pageCount - 1];
    for (const page of [...pages].reverse()) memory.markTouched(page);
    expect([...memory.touchedPages()]).toEqual(pages);
    expect(memory.touchedCount()).toBe(pages.length);
  });

  it('find nothing in an untouched map, and every page of a full one', () => {
    const pageCount = 1000 * 32 + 7;
    const memory = GuestMemory.create(pageCount * PAGE_SIZE, pageCount * PAGE_SIZE);
    expect(memory.touchedPages()).toHaveLength(0);
    expect(memory.touchedCount()).toBe(0);
    for (let page = 0; page < pageCount; page++) memory.markTouched(page);
    const all = memory.touchedPages();
    expect(all).toHaveLength(pageCount);
    expect(all.every((page, i) => page === i)).toBe(true);
  });
});
