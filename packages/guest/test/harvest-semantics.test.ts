import { describe, expect, it } from 'vitest';
import { GuestMemory, PAGE_SIZE } from '@livemig/guest';

describe('harvestDirty', () => {
  it('returns ascending indices across words, clears the log and ORs into the touched map', () => {
    const memory = GuestMemory.create(256 * PAGE_SIZE, 64 * PAGE_SIZE);
    for (const p of [200, 3, 31, 32, 64, 63, 255, 3]) {
      memory.page(p)[0] = 1;
      memory.markDirty(p);
    }
    expect(memory.dirtyCount()).toBe(7);
    expect([...memory.harvestDirty()]).toEqual([3, 31, 32, 63, 64, 200, 255]);
    expect(memory.dirtyCount()).toBe(0);
    expect(memory.harvestDirty().length).toBe(0);
    expect([...memory.touchedPages()]).toEqual([3, 31, 32, 63, 64, 200, 255]);
    expect(memory.touchedCount()).toBe(7);

    memory.markDirty(31);
    memory.markDirty(100);
    expect([...memory.harvestDirty()]).toEqual([31, 100]);
    expect(memory.touchedCount()).toBe(8);
    expect(memory.isTouched(100)).toBe(true);
    expect(memory.isTouched(101)).toBe(false);
  });

  it('maps page p to slot floor(p / pagesPerSlot)', () => {
    const memory = GuestMemory.create(10 * PAGE_SIZE, 4 * PAGE_SIZE);
    expect(memory.slots.map((s) => s.byteLength)).toEqual([4 * PAGE_SIZE, 4 * PAGE_SIZE, 2 * PAGE_SIZE]);
    memory.page(9).fill(7);
    expect(memory.slots[2]?.[PAGE_SIZE]).toBe(7);
    expect(memory.page(9).byteLength).toBe(PAGE_SIZE);
    expect(() => memory.page(10)).toThrow(RangeError);
  });

  it('attach() sees the same pages, dirty log and touched map', () => {
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const other = GuestMemory.attach(memory.handles());
    other.page(5)[9] = 42;
    other.markDirty(5);
    expect(memory.page(5)[9]).toBe(42);
    expect([...memory.harvestDirty()]).toEqual([5]);
    // Shared: a destination channel worker marks the pages it receives for the main thread to see.
    expect([...other.touchedPages()]).toEqual([5]);
    other.markTouched(40);
    expect(memory.isTouched(40)).toBe(true);
  });

  it('rejects geometry that is not whole pages', () => {
    for (const [bytes, slot] of [
      [0, PAGE_SIZE],
      [PAGE_SIZE + 1, PAGE_SIZE],
      [PAGE_SIZE, 100],
      [PAGE_SIZE, 2 ** 33],
    ] as const) {
      expect(() => GuestMemory.create(bytes, slot)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_GEOMETRY' }));
    }
  });
});
