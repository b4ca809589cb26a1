import { createCipheriv, createHash } from 'node:crypto';

/** mulberry32: a small seeded PRNG, uniform in [0, 2^32). Deterministic given the seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/**
 * Seeded incompressible bytes: the AES-128-CTR keystream under a key derived from the seed. Native and
 * several GB/s, so generating a 1 GiB random image costs well under a second.
 */
export class RandomBytes {
  readonly #cipher;
  #zeros = Buffer.alloc(0);

  constructor(seed: number) {
    const key = createHash('sha256').update(`livemig-bench-random-${seed}`).digest().subarray(0, 16);
    this.#cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  }

  fill(dst: Uint8Array): void {
    if (this.#zeros.length < dst.length) this.#zeros = Buffer.alloc(dst.length);
    dst.set(this.#cipher.update(this.#zeros.subarray(0, dst.length)));
  }
}
