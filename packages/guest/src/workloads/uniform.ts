import { Reg } from '../registers.js';
import { RandomPeek } from '../rng.js';
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
    // The page is drawn ahead and checked before the op changes anything (the barrier), then the draw is committed.
    const page = start + (peek.from(regs).next() % length);
    if (ctx.present.active) ensurePresent(ctx, page);
    peek.commit(regs);
    writeRandomLine(ctx, page);
  };
};
