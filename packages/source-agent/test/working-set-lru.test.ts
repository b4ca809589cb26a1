import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkingSetLru } from '../src/working-set/working-set-lru.js';

/** The reference: arrays, O(n) per reference, written straight from the paper's description. */
class NaiveLru {
  workingSet: number[] = [];
  inactive: number[] = [];
  evicted: number[] = [];
  constructor(readonly capacity: number) {}
  reference(page: number): void {
    if (this.capacity === 0) return;
    this.workingSet = [page, ...this.workingSet.filter((p) => p !== page)];
    this.inactive = this.inactive.filter((p) => p !== page);
    if (this.workingSet.length > this.capacity) {
      const bottom = this.workingSet.pop()!;
      this.inactive.push(bottom);
      this.evicted.push(bottom);
    }
  }
}

describe('WorkingSetLru (Zaw and Thein, Fig. 2)', () => {
  it('keeps the same working set list, inactive list and evictions as a naive LRU on random traces', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.array(fc.nat(), { maxLength: 40 }), { maxLength: 30 }),
        (pageCount, capacity, harvests) => {
          const lru = new WorkingSetLru(pageCount, capacity);
          const naive = new NaiveLru(capacity);
          const evicted: number[] = [];
          lru.onEvict = (page) => evicted.push(page);
          for (const harvest of harvests) {
            const pages = harvest.map((p) => p % pageCount);
            lru.referenceAll(pages);
            for (const p of pages) naive.reference(p);
            expect([...lru.workingSet()]).toEqual(naive.workingSet);
            expect([...lru.inactive()]).toEqual(naive.inactive);
            expect(lru.size).toBe(naive.workingSet.length);
            expect(lru.inactiveSize).toBe(naive.inactive.length);
            for (let p = 0; p < pageCount; p++) expect(lru.has(p)).toBe(naive.workingSet.includes(p));
          }
          expect(evicted).toEqual(naive.evicted);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('capacity 0 is off: nothing enters the working set', () => {
    const lru = new WorkingSetLru(8, 0);
    lru.referenceAll([1, 2, 3]);
    expect(lru.size).toBe(0);
    expect(lru.inactive()).toHaveLength(0);
  });

  it('a full list pushes its bottom page to the inactive list, in order of removal', () => {
    const lru = new WorkingSetLru(8, 2);
    lru.referenceAll([1, 2, 3, 1, 4]);
    expect([...lru.workingSet()]).toEqual([4, 1]);
    expect([...lru.inactive()]).toEqual([2, 3]);
  });
});
