import { PAGE_SIZE } from '../constants.js';
import { Reg } from '../registers.js';
import { nextRandom, RandomPeek } from '../rng.js';
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
    if (ctx.present.active) {
      // Both pages checked before the op changes anything (a missing one would also read as zeros): they are
      // the first and third next randoms', the second choosing the span.
      ensurePresent(ctx, start + (peek.from(regs).next() % hot));
      const span = peek.next() < threshold ? hot : length;
      ensurePresent(ctx, start + (peek.next() % span));
    }
    const draw = nextRandom(regs);
    const read = start + (draw % hot);
    const word = slotWordsOf(ctx, read)[(offsetOf(ctx, read) >>> 2) + (draw >>> 22)] as number;
    markAccessed(ctx, read);
    const span = nextRandom(regs) < threshold ? hot : length;
    writeRandomLine(ctx, start + (nextRandom(regs) % span), word);
  };
};
