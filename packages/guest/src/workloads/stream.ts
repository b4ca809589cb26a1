import { Reg } from '../registers.js';
import { markAccessed } from './accessed.js';
import { nextRandom } from '../rng.js';
import { markDirty, offsetOf, slotWordsOf, type Program } from './context.js';
import { ensurePresent } from './present.js';

/**
 * Sweeps the partition in address order, filling one whole page per op with a u32 derived from the RNG
 * and the pass number (native byte order). Dirties pages faster than any network drains them.
 */
export const stream: Program = (ctx) => {
  const regs = ctx.regs;
  return () => {
    const page = (regs[Reg.PART_START] as number) + (regs[Reg.CURSOR] as number);
    ensurePresent(ctx, page);
    const value = (nextRandom(regs) ^ Math.imul((regs[Reg.PASS] as number) + 1, 0x9e3779b9)) >>> 0;
    const words = slotWordsOf(ctx, page);
    const first = offsetOf(ctx, page) >>> 2;
    words.fill(value, first, first + 1024);
    markDirty(ctx, page);
    markAccessed(ctx, page);
    const next = (regs[Reg.CURSOR] as number) + 1;
    if (next === regs[Reg.PART_LEN]) {
      regs[Reg.CURSOR] = 0;
      regs[Reg.PASS] = ((regs[Reg.PASS] as number) + 1) >>> 0;
    } else {
      regs[Reg.CURSOR] = next;
    }
  };
};
