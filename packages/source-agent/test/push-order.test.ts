import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_CHUNK_PAGES, MIN_CHUNK_PAGES, PREPAGING_NAMES, PushOrder } from '../src/postcopy/push-order.js';

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('post-copy push order', () => {
  it.each(PREPAGING_NAMES)('%s: every unsent page goes out exactly once, requested or pushed', (policy) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 700 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (pageCount, unsentSeeds, requestSeeds) => {
          const unsent = unsentSeeds.map((s) => s % pageCount);
          const order = new PushOrder(pageCount, unsent, { policy, pivots: 2 });
          const sent: number[] = [];
          let r = 0;
          for (;;) {
            if (r < requestSeeds.length) {
              const page = requestSeeds[r++]! % pageCount;
              if (order.request(page)) sent.push(page);
            }
            const chunk = order.next();
            if (chunk.length === 0 && r >= requestSeeds.length) break;
            sent.push(...chunk);
          }
          expect(order.remaining).toBe(0);
          expect([...sent].sort((a, b) => a - b)).toEqual([...new Set(unsent)].sort((a, b) => a - b));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('linear pushes in ascending order and ignores requests', () => {
    const order = new PushOrder(100, range(0, 100), { policy: 'linear', pivots: 1 });
    expect(order.next()).toEqual(range(0, 16));
    expect(order.request(60)).toBe(true);
    expect(order.next()).toEqual(range(16, 32));
  });

  it('forward continues after the requested page, then wraps to what is left', () => {
    const order = new PushOrder(100, range(0, 100), { policy: 'forward', pivots: 1 });
    expect(order.request(90)).toBe(true);
    expect(order.next()).toEqual([...range(91, 100), ...range(0, 7)]);
  });

  it('bubble walks out from the fault in both directions, nearest first', () => {
    const order = new PushOrder(1000, range(0, 1000), { policy: 'bubble', pivots: 2 });
    expect(order.request(500)).toBe(true);
    expect(order.next()).toEqual([501, 499, 502, 498, 503, 497, 504, 496, 505, 495, 506, 494, 507, 493, 508, 492]);
  });

  it('bubble keeps one bubble per locality and takes turns between them', () => {
    const order = new PushOrder(1000, range(0, 1000), { policy: 'bubble', pivots: 2 });
    order.request(100);
    order.request(800);
    const chunk = order.next();
    // The newest fault's bubble first, then the other.
    expect(chunk.slice(0, 8)).toEqual([801, 799, 802, 798, 803, 797, 804, 796]);
    expect(chunk.slice(8)).toEqual([101, 99, 102, 98, 103, 97, 104, 96]);
    // A third locality replaces the oldest bubble (around 100), and goes first.
    order.request(400);
    const next = order.next();
    expect(next.slice(0, 4)).toEqual([401, 399, 402, 398]);
    expect(next.slice(8, 12)).toEqual([805, 795, 806, 794]);
    // 803 was pushed already: not sent again, but the bubble around 800 moves to it and goes first.
    expect(order.request(803)).toBe(false);
    expect(order.next().slice(0, 4)).toEqual([809, 791, 810, 790]);
  });

  it('a page already pushed is not requested again (sent once)', () => {
    const order = new PushOrder(64, range(0, 64), { policy: 'linear', pivots: 1 });
    expect(order.next()).toContain(3);
    expect(order.request(3)).toBe(false);
  });

  it('chunks grow by 16 pages while no fault comes, up to 1024, and drop back to 16 on a fault (CRIU)', () => {
    const order = new PushOrder(100_000, range(0, 100_000), { policy: 'linear', pivots: 1 });
    const sizes = [order.next().length, order.next().length, order.next().length];
    expect(sizes).toEqual([16, 32, 48]);
    for (let i = 0; i < 80; i++) order.next();
    expect(order.chunkPages).toBe(MAX_CHUNK_PAGES);
    order.request(99_999);
    expect(order.chunkPages).toBe(MIN_CHUNK_PAGES);
  });

  it('the recently dirtied pages of hybrid go first, in the order given', () => {
    const order = new PushOrder(100, range(0, 100), { policy: 'bubble', pivots: 1, first: [70, 12, 70, 40] });
    expect(order.next().slice(0, 4)).toEqual([70, 12, 40, 0]);
  });

  it('refuses pages outside the guest', () => {
    expect(() => new PushOrder(10, [10], { policy: 'linear', pivots: 1 })).toThrow(RangeError);
    expect(() => new PushOrder(10, [1], { policy: 'linear', pivots: 1 }).request(-1)).toThrow(RangeError);
  });
});
