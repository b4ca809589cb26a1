import { Reg } from '../registers.js';
import { markAccessed } from './accessed.js';
import { markDirty, offsetOf, slotOf, type Program } from './context.js';
import { ensurePresent } from './present.js';

/**
 * QEMU's migration-test guest (its a-b boot block): increment byte 0 of every page in
 * address order, forever, wrapping to the start of the partition. checkIncrPattern verifies the result.
 */
export const incr: Program = (ctx) => {
  const regs = ctx.regs;
  return () => {
    const page = (regs[Reg.PART_START] as number) + (regs[Reg.CURSOR] as number);
    ensurePresent(ctx, page);
    const slot = slotOf(ctx, page);
    const offset = offsetOf(ctx, page);
    slot[offset] = ((slot[offset] as number) + 1) & 0xff;
    markDirty(ctx, page);
    markAccessed(ctx, page);
    const next = (regs[Reg.CURSOR] as number) + 1;
    regs[Reg.CURSOR] = next === regs[Reg.PART_LEN] ? 0 : next;
  };
};
