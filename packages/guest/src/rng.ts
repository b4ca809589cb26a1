import { Reg } from './registers.js';

/**
 * xorshift128 (Marsaglia, "Xorshift RNGs", 2003) stepping its state in the register file itself, so the
 * stream continues exactly after a park or a migration.
 */
export function nextRandom(regs: Uint32Array): number {
  const x = regs[Reg.RNG0] as number;
  const w = regs[Reg.RNG3] as number;
  const t = x ^ (x << 11);
  regs[Reg.RNG0] = regs[Reg.RNG1] as number;
  regs[Reg.RNG1] = regs[Reg.RNG2] as number;
  regs[Reg.RNG2] = w;
  const next = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
  regs[Reg.RNG3] = next;
  return next;
}
