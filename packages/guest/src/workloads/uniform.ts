import { Reg } from '../registers.js';
import { nextRandom, RandomPeek } from '../rng.js';
import type { Program } from './context.js';
import { writeRandomLine } from './line-write.js';
import { ensurePresent } from './present.js';

/** Each op writes 64 bytes at a random line of a random page of the partition. */
export const uniform: Program = (ctx) => {
  const regs = ctx.regs;
  const peek = new RandomPeek();
  return () => {
    const start = regs[Reg.PART_START] as number;
    const length = regs[Reg.PART_LEN] as number;
    // The barrier before the op changes anything: the page is the next random's.
    if (ctx.present.active) ensurePresent(ctx, start + (peek.from(regs).next() % length));
    writeRandomLine(ctx, start + (nextRandom(regs) % length));
  };
};
