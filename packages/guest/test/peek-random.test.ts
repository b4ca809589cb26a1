import { describe, expect, it } from 'vitest';
import { nextRandom, peekRandom } from '../dist/rng.js';

// The access barrier checks an op's pages before the op changes a register: ops whose pages are chosen by
// random numbers compute them with peekRandom, which must give exactly what nextRandom will, and change nothing.
describe('peekRandom', () => {
  it('gives the k-th next value of nextRandom and leaves the registers as they were', () => {
    const regs = new Uint32Array(16);
    regs.set([0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321], 10);
    for (let round = 0; round < 100; round++) {
      const before = Array.from(regs);
      const peeked = [1, 2, 3, 4, 5].map((k) => peekRandom(regs, k));
      expect(Array.from(regs)).toEqual(before);
      expect(peeked).toEqual([1, 2, 3, 4, 5].map(() => nextRandom(regs)));
    }
  });
});
