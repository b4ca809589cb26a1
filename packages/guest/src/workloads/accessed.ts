import type { VcpuContext } from './context.js';

/** Marks `page` accessed (read or written) for the working-set prediction; one call per page an op touches. */
export function markAccessed(ctx: VcpuContext, page: number): void {
  ctx.accessed.mark(page);
}
