import { describe, expect, it } from 'vitest';
import { nextRandom, RandomPeek } from '../dist/rng.js';

// The access barrier checks an op's pages before the op changes a register: ops whose pages are chosen by
// random numbers compute them with RandomPeek, which must give exactly what nextRandom will, and change nothing.
describe('RandomPeek', () => {
  it('gives the next values of nextRandom in turn and leaves the registers as they were', () => {
    const regs = new Uint32Array(16);
    regs.set([0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321], 10);
    const peek = new RandomPeek();
    for (let round = 0; round < 100; round++) {
      const before = Array.from(regs);
      peek.from(regs);
      const peeked = [1, 2, 3, 4, 5].map(() => peek.next());
      expect(Array.from(regs)).toEqual(before);
      expect(peeked).toEqual([1, 2, 3, 4, 5].map(() => nextRandom(regs)));
    }
  });

  it('commit() leaves the registers as that many nextRandom calls would', () => {
    const drawn = new Uint32Array(16);
    drawn.set([1, 2, 3, 4], 10);
    const peeked = Uint32Array.from(drawn);
    const peek = new RandomPeek().from(peeked);
    for (let i = 0; i < 3; i++) expect(peek.next()).toBe(nextRandom(drawn));
    peek.commit(peeked);
    expect(Array.from(peeked)).toEqual(Array.from(drawn));
  });
});
