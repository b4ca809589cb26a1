import { PAGE_SHIFT } from '../constants.js';
import type { AccessMarker } from '../access-marker.js';
import type { DirtyMarker } from '../dirty-marker.js';
import type { PresentBarrier } from '../present-barrier.js';

/** What a workload program sees inside its vCPU worker. */
export interface VcpuContext {
  /** This vCPU's register file: the program's whole state. */
  readonly regs: Uint32Array;
  readonly slots: readonly Uint8Array[];
  /** 32-bit views of the same slots, for whole-page fills. */
  readonly slotWords: readonly Uint32Array[];
  readonly pagesPerSlot: number;
  /** This vCPU's writer of the shared dirty log. */
  readonly dirty: DirtyMarker;
  /** This vCPU's writer of the shared accessed bitmap (working-set prediction). */
  readonly accessed: AccessMarker;
  /** This vCPU's access barrier of post-copy (see workloads/present.ts). */
  readonly present: PresentBarrier;
  readonly params: Readonly<Record<string, number>>;
  readonly vcpus: number;
  /** Path of the guest's virtual disk (--disk), for the workloads that use one (fileserver). */
  readonly disk?: string;
}

/** One operation: reads and writes only the registers and the vCPU's own partition. */
export type Op = () => void;

/**
 * Builds the operation of a workload. The closure may capture constants (parameters, geometry) but no
 * state: everything that changes lives in `ctx.regs`.
 */
export type Program = (ctx: VcpuContext) => Op;

export function slotOf(ctx: VcpuContext, page: number): Uint8Array {
  return ctx.slots[Math.floor(page / ctx.pagesPerSlot)] as Uint8Array;
}

/** The 32-bit view of the slot holding `page` (index it with offsetOf(...) >>> 2). */
export function slotWordsOf(ctx: VcpuContext, page: number): Uint32Array {
  return ctx.slotWords[Math.floor(page / ctx.pagesPerSlot)] as Uint32Array;
}

/** Byte offset of `page` inside its slot. */
export function offsetOf(ctx: VcpuContext, page: number): number {
  return (page % ctx.pagesPerSlot) << PAGE_SHIFT;
}

/** Write, then mark: call after the page's bytes are stored (see DirtyMarker). */
export function markDirty(ctx: VcpuContext, page: number): void {
  ctx.dirty.mark(page);
}
