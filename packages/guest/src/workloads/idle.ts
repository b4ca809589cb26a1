import { nextRandom } from '../rng.js';
import type { Program } from './context.js';

/** No writes: one op is one RNG step (the guest still "runs", so its CPU state changes). */
export const idle: Program = (ctx) => () => {
  nextRandom(ctx.regs);
};
