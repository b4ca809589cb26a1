import { PAGE_SIZE } from '../constants.js';
import { Reg } from '../registers.js';
import { RandomPeek } from '../rng.js';
import { markAccessed } from './accessed.js';
import { offsetOf, slotWordsOf, type Program } from './context.js';
import { writeRandomLine } from './line-write.js';
import { ensurePresent } from './present.js';

/**
 * Like uniform, but `hotFraction` of the ops hit a hot set at the start of the partition (`hotBytes` for
 * the whole guest, split over the vCPUs): the writable working set of Clark et al.'s Quake server. Each op
 * also reads a word of a random hot page and mixes it into what it writes, so the hot set is read as well as
 * written (what the working-set prediction sees in its accessed bits).
 */
export const hotcold: Program = (ctx) => {
  const regs = ctx.regs;
  // parseWorkloadSpec fills in both defaults.
  const hotFraction = ctx.params['hotFraction']!;
  const hotBytes = ctx.params['hotBytes']!;
  // u32 threshold: hotFraction = 1 gives 2^32, above every RNG output.
  const threshold = Math.floor(hotFraction * 2 ** 32);
  const hotPagesPerVcpu = Math.max(1, Math.floor(hotBytes / PAGE_SIZE / ctx.vcpus));
  const peek = new RandomPeek();
  return () => {
    const start = regs[Reg.PART_START] as number;
    const length = regs[Reg.PART_LEN] as number;
    const hot = Math.min(hotPagesPerVcpu, length);
    // Three numbers drawn ahead: the page read (and the word in it), whether the write goes to the hot set,
    // the page written. Both pages are checked before the op changes anything (a missing one would also read
    // as zeros), then the draws are committed.
    const draw = peek.from(regs).next();
    const span = peek.next() < threshold ? hot : length;
    const read = start + (draw % hot);
    const write = start + (peek.next() % span);
    if (ctx.present.active) {
      ensurePresent(ctx, read);
      ensurePresent(ctx, write);
    }
    peek.commit(regs);
    const word = slotWordsOf(ctx, read)[(offsetOf(ctx, read) >>> 2) + (draw >>> 22)] as number;
    markAccessed(ctx, read);
    writeRandomLine(ctx, write, word);
  };
};
