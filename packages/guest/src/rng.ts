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

/**
 * The value the `k`-th next call of nextRandom will return (k >= 1), without changing the registers: an op
 * checks the pages it will touch before it changes any register (the post-copy access barrier, present.ts).
 */
export function peekRandom(regs: Uint32Array, k: number): number {
  let x = regs[Reg.RNG0] as number;
  let y = regs[Reg.RNG1] as number;
  let z = regs[Reg.RNG2] as number;
  let w = regs[Reg.RNG3] as number;
  for (let i = 0; i < k; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
  }
  return w;
}
