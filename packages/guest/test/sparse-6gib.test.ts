import { describe, expect, it, vi } from 'vitest';
import { digestGuest, GuestMemory, PAGE_SIZE } from '@livemig/guest';

const GiB = 1024 ** 3;

describe('6 GiB sparse guest', () => {
  it('spans six 1 GiB slots, writes slot 5, tracks only written pages and digests cheaply', () => {
    const memory = GuestMemory.create(6 * GiB);
    expect(memory.slots).toHaveLength(6);
    expect(memory.pageCount).toBe((6 * GiB) / PAGE_SIZE);
    const last = memory.pageCount - 1;
    const inSlot5 = 5 * memory.pagesPerSlot + 3;
    for (const p of [0, inSlot5, last]) {
      memory.page(p).fill(p & 0xff || 1);
      memory.markDirty(p);
    }
    expect(memory.slots[5]?.[3 * PAGE_SIZE]).toBe(inSlot5 & 0xff || 1);
    expect(memory.slots[5]?.[memory.slots[5]!.byteLength - 1]).toBe(last & 0xff || 1);

    // Digesting cheaply means reading the written pages and no other of the 1.5 million.
    const reads = vi.spyOn(memory, 'page');
    const before = digestGuest(memory, []);
    expect(reads.mock.calls.map(([page]) => page)).toEqual([0, inSlot5, last]);
    expect([...memory.harvestDirty()]).toEqual([0, inSlot5, last]);
    expect(memory.touchedCount()).toBe(3);
    expect([...memory.touchedPages()]).toEqual([0, inSlot5, last]);
    // Harvesting moves pages from the dirty log to the touched map: the digest must not change.
    reads.mockClear();
    expect(digestGuest(memory, [])).toBe(before);
    expect(reads.mock.calls.map(([page]) => page)).toEqual([0, inSlot5, last]);
    reads.mockRestore();

    // A touched page that is zero does not count: equal contents, equal digests.
    const copy = GuestMemory.create(6 * GiB);
    for (const p of [0, inSlot5, last]) {
      copy.page(p).set(memory.page(p));
      copy.markTouched(p);
    }
    copy.markTouched(12345);
    expect(digestGuest(copy, [])).toBe(before);
    copy.page(7)[0] = 1; // written but not marked: invisible, as never-written pages are never read
    copy.markTouched(7);
    expect(digestGuest(copy, [])).not.toBe(before);
  });
});
