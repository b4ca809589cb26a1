import { nextRandom } from '../rng.js';
import { markAccessed } from './accessed.js';
import { markDirty, offsetOf, slotOf, type VcpuContext } from './context.js';

const LINE_BYTES = 64;
const LINES_PER_PAGE = 64;

/**
 * Writes one 64-byte line at an RNG-chosen aligned offset of `page` with RNG bytes (byte by byte, so the
 * image does not depend on host byte order), each RNG word XORed with `mix` (what the op read), then marks the
 * page. The caller has checked `page` with ensurePresent before its op changed anything.
 */
export function writeRandomLine(ctx: VcpuContext, page: number, mix = 0): void {
  const regs = ctx.regs;
  const slot = slotOf(ctx, page);
  const base = offsetOf(ctx, page) + (nextRandom(regs) % LINES_PER_PAGE) * LINE_BYTES;
  for (let i = 0; i < LINE_BYTES; i += 4) {
    const r = nextRandom(regs) ^ mix;
    slot[base + i] = r;
    slot[base + i + 1] = r >>> 8;
    slot[base + i + 2] = r >>> 16;
    slot[base + i + 3] = r >>> 24;
  }
  markDirty(ctx, page);
  markAccessed(ctx, page);
}
