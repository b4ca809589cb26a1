import { GuestKernel } from '../kernel/kernel.js';
import { serviceHost, type HintBehaviour } from '../kernel/hints.js';
import { VirtualDisk } from '../kernel/disk.js';
import { ANON_HANDLE_PAGES, kernelLayout, kernelSizes, Sb } from '../kernel/layout.js';
import { PartitionWords } from '../kernel/partition-words.js';
import { readU64, Reg } from '../registers.js';
import { nextRandom } from '../rng.js';
import type { Program } from './context.js';

/** Data words of a block (the trailer excluded) and the 16-word lines the workload writes among them. */
const LINES_PER_BLOCK = 63;
const LINE_WORDS = 16;
/** Dirty pages the flusher writes back per flush op, and pages it looks at for them. */
const FLUSH_BATCH = 4;
const FLUSH_SCAN = 256;

/**
 * A postmark-like file server over the guest kernel (kernel/): first it reads its disk range into the cache
 * (up to the cache size: the paper's full buffer cache), then allocates every anonymous buffer (user-land
 * memory), then loops over a mix of file reads through the cache (40 %), file writes into dirty cache pages
 * (20 %), reallocations (10 %) and writes (20 %) of anonymous buffers, and flushes of dirty pages (10 %).
 * What it reads is folded into accumulators in the superblock. Which pages are cached, and when blocks are
 * written back, depends on the cache's history (a dropped cache is read again); what the workload observes
 * (the data it reads, its buffers, the disk's contents) does not: see kernel-digest.ts.
 */
export const fileserver: Program = (ctx) => {
  const regs = ctx.regs;
  const index = regs[Reg.VCPU_INDEX] as number;
  const pageCount = (ctx.slots.reduce((sum, s) => sum + s.byteLength, 0) / 4096) | 0;
  const layout = kernelLayout(kernelSizes(ctx.params), index, ctx.vcpus, pageCount);
  if (ctx.disk === undefined) throw new Error('the fileserver workload needs a disk (--disk FILE)');
  const disk = VirtualDisk.open(ctx.disk, ctx.params['diskBytes']!);
  const words = new PartitionWords(ctx.slotWords, ctx.pagesPerSlot, layout.start, ctx.dirty);
  const kernel = new GuestKernel(layout, words, ctx.slots, disk);
  const behaviour: HintBehaviour = {
    intervalMs: ctx.params['hintIntervalMs']!,
    acknowledge: ctx.params['irqAck'] === 1,
    lie: ctx.params['lieSoft'] === 1,
  };
  const warm = Math.min(layout.blocks, layout.cachePages);
  const fillPage = (page: number): void => words.fillPage(page, nextRandom(regs));
  const foldPage = (page: number): void => {
    let acc = kernel.sb(Sb.ACC_ANON);
    for (let i = 0; i < 1024; i += 255) acc = (Math.imul(acc, 31) + kernel.pageWord(page, i)) >>> 0;
    kernel.setSb(Sb.ACC_ANON, acc);
  };
  const readBlock = (block: number, word: number): void => {
    const page = kernel.cachedBlock(block);
    kernel.setSb(Sb.ACC_READ, Math.imul(kernel.sb(Sb.ACC_READ), 31) + kernel.pageWord(page, word));
  };
  const writeLine = (page: number, line: number): void => {
    const x = nextRandom(regs);
    for (let i = 0; i < LINE_WORDS; i++) kernel.setPageWord(page, line * LINE_WORDS + i, x + i);
  };
  return () => {
    kernel.bootIfFresh();
    serviceHost(kernel, behaviour);
    const done = readU64(regs, Reg.OPS_DONE_LO);
    if (done < warm) return readBlock(done, done % LINES_PER_BLOCK);
    if (done < warm + layout.handles) return kernel.anonAlloc(done - warm, ANON_HANDLE_PAGES, fillPage);
    const r = nextRandom(regs) % 100;
    const block = nextRandom(regs) % layout.blocks;
    const handle = layout.handles > 0 ? nextRandom(regs) % layout.handles : -1;
    if (r < 40 || (handle < 0 && r >= 60 && r < 90)) {
      readBlock(block, nextRandom(regs) % (LINES_PER_BLOCK * LINE_WORDS));
    } else if (r < 60) {
      writeLine(kernel.dirtyBlock(block), nextRandom(regs) % LINES_PER_BLOCK);
    } else if (r < 70) {
      kernel.anonFree(handle, foldPage);
      kernel.anonAlloc(handle, 1 + (nextRandom(regs) % ANON_HANDLE_PAGES), fillPage);
    } else if (r < 90) {
      const count = kernel.anonWord(handle, 0);
      if (count === 0) kernel.anonAlloc(handle, 1, fillPage);
      else writeLine(kernel.anonWord(handle, 1 + (nextRandom(regs) % count)), nextRandom(regs) % 64);
    } else {
      kernel.flushSome(FLUSH_BATCH, FLUSH_SCAN);
    }
  };
};
