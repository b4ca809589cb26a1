import { Reg } from '../registers.js';
import { nextRandom } from '../rng.js';
import type { Program } from './context.js';
import { writeRandomLine } from './line-write.js';

/** Each op writes 64 bytes at a random line of a random page of the partition. */
export const uniform: Program = (ctx) => {
  const regs = ctx.regs;
  return () => {
    const page = (regs[Reg.PART_START] as number) + (nextRandom(regs) % (regs[Reg.PART_LEN] as number));
    writeRandomLine(ctx, page);
  };
};
