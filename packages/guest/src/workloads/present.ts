import type { VcpuContext } from './context.js';

/**
 * The access barrier of post-copy: call for every page an op touches, before the op writes anything. Returns
 * at once unless the guest is in post-copy with pages missing; a missing page ends the op before its first
 * write, and the vCPU waits for the page at the op boundary (see PresentBarrier).
 */
export function ensurePresent(ctx: VcpuContext, page: number): void {
  ctx.present.ensure(page);
}
