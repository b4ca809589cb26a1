import { describe, expect, it } from 'vitest';
import { DeltaCache } from '../src/delta-cache.js';

const page = (fill: number): Uint8Array => new Uint8Array(4096).fill(fill);

describe('DeltaCache', () => {
  it('a dropped page has no copy (it went some other way: the copy is stale); the others keep theirs', () => {
    const cache = new DeltaCache(2 * 4096);
    cache.put(1, page(1));
    cache.put(2, page(2));
    cache.drop(1);
    cache.drop(7);
    expect(cache.has(1)).toBe(false);
    expect(cache.get(1)).toBeUndefined();
    expect(cache.get(2)?.[0]).toBe(2);
    // The freed slot is reused in turn without evicting the wrong page.
    cache.put(3, page(3));
    cache.put(4, page(4));
    expect(cache.has(2)).toBe(false);
    expect(cache.get(3)?.[0]).toBe(3);
    expect(cache.get(4)?.[0]).toBe(4);
  });
});
