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
 * Reads ahead of nextRandom without changing the registers: `from(regs)` copies the state, then each `next()`
 * returns what the next call of nextRandom on `regs` would, in turn, and `commit(regs)` stores the state
 * reached. An op draws its pages' numbers this way, checks the pages (the post-copy access barrier,
 * present.ts), and only then commits: a missing page leaves the registers untouched, and each number is
 * drawn and reduced once. One per vCPU program: no allocation per op.
 */
export class RandomPeek {
  #x = 0;
  #y = 0;
  #z = 0;
  #w = 0;

  from(regs: Uint32Array): this {
    this.#x = regs[Reg.RNG0] as number;
    this.#y = regs[Reg.RNG1] as number;
    this.#z = regs[Reg.RNG2] as number;
    this.#w = regs[Reg.RNG3] as number;
    return this;
  }

  /** Stores the state reached into `regs`: the same as one nextRandom call per next() since from(). */
  commit(regs: Uint32Array): void {
    regs[Reg.RNG0] = this.#x;
    regs[Reg.RNG1] = this.#y;
    regs[Reg.RNG2] = this.#z;
    regs[Reg.RNG3] = this.#w;
  }

  next(): number {
    const t = this.#x ^ (this.#x << 11);
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = (this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.#w;
  }
}
