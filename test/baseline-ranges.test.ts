import { describe, expect, it } from 'vitest';
import { connectionRanges } from '../bench/src/baseline-ranges.js';

// The raw push (`npm run bench -- baseline --connections 1,2,4`) splits the image over its connections; every
// byte must go over exactly one of them, in whole pages, or the receiver's count would not add up.
describe('baseline connection ranges', () => {
  it.each([
    [1 << 30, 1],
    [1 << 30, 2],
    [1 << 30, 4],
    [3 * 4096 + 100, 2],
    [5 * 4096, 3],
    [4096, 4],
  ])('cover %i bytes over %i connections once, contiguously, page-aligned', (bytes, connections) => {
    const ranges = connectionRanges(bytes, connections);
    expect(ranges).toHaveLength(connections);
    expect(ranges[0]!.from).toBe(0);
    expect(ranges.at(-1)!.to).toBe(bytes);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.from).toBe(ranges[i - 1]!.to);
    for (const range of ranges) {
      expect(range.to).toBeGreaterThanOrEqual(range.from);
      expect(range.from % 4096).toBe(0);
    }
    const sizes = ranges.map((r) => r.to - r.from);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(4096);
  });
});
