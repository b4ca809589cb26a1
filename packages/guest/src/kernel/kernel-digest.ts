import { createHash } from 'node:crypto';
import { PAGE_SIZE } from '../constants.js';
import { GuestError, GuestErrorCode } from '../errors.js';
import type { GuestMemory } from '../memory.js';
import type { CpuState } from '../registers.js';
import type { WorkloadSpec } from '../workload-spec.js';
import { VirtualDisk } from './disk.js';
import { ANON_HANDLE_PAGES, BLOCK_DATA_BYTES, BLOCK_MASK, KERNEL_MAGIC, kernelLayout, kernelSizes, PageState, Sb, STATE_SHIFT } from './layout.js';
import { PartitionWords } from './partition-words.js';

/**
 * The oracle's digest of a guest-kernel guest (fileserver): what the guest can observe, not where its pages
 * happen to be. A cache dropped by the pre-suspend interrupt changes which pages hold what and when blocks
 * are written back, but none of this. In order, per vCPU:
 *   - its register file (RNG state, ops done);
 *   - the superblock's accumulators (ACC_READ: every word the workload read from files; ACC_ANON: what its
 *     anonymous buffers held when freed) and ANON_PAGES;
 *   - each anonymous buffer, by handle: its page count, then its pages' 4096 bytes in buffer order;
 *   - each disk block of its range as the guest sees it: the data bytes (4088, the trailer left out) of its
 *     dirty cache page if it has one, else of the block on the disk.
 * Not covered: free pages, clean cache pages, the free stack and cache index, the hint area, write-back
 * generations (they depend on the cache's history). Those are checked instead: every block's on-disk
 * trailer must name the block and carry the generation the kernel recorded for it, so a write-back lost, or
 * a stale one landing after a newer, fails the digest with LM_ERR_DISK.
 * @throws GuestError LM_ERR_DISK
 */
export function digestKernelGuest(memory: GuestMemory, cpuState: CpuState, workload: WorkloadSpec, diskPath: string): string {
  const sizes = kernelSizes(workload.params);
  const disk = VirtualDisk.open(diskPath, sizes.diskBytes);
  const slotWords = memory.slots.map((s) => new Uint32Array(s.buffer, s.byteOffset, s.byteLength >>> 2));
  const hash = createHash('sha256');
  const word = Buffer.alloc(4);
  const u32 = (value: number): void => {
    word.writeUInt32LE(value >>> 0);
    hash.update(word);
  };
  const block = new Uint8Array(PAGE_SIZE);
  const blockView = new DataView(block.buffer);
  try {
    u32(memory.pageCount);
    cpuState.forEach((file, vcpu) => {
      hash.update(file);
      const layout = kernelLayout(sizes, vcpu, cpuState.length, memory.pageCount);
      const words = new PartitionWords(slotWords, memory.pagesPerSlot, layout.start);
      const booted = words.get(0, Sb.MAGIC) === KERNEL_MAGIC;
      u32(booted ? words.get(0, Sb.ACC_READ) : 0);
      u32(booted ? words.get(0, Sb.ACC_ANON) : 0);
      u32(booted ? words.get(0, Sb.ANON_PAGES) : 0);
      const page = (p: number): Uint8Array => memory.page(layout.start + p);
      for (let h = 0; h < layout.handles && booted; h++) {
        const base = h * (1 + ANON_HANDLE_PAGES);
        const count = Math.min(words.get(layout.anonPage, base), ANON_HANDLE_PAGES);
        u32(count);
        for (let k = 0; k < count; k++) {
          const p = words.get(layout.anonPage, base + 1 + k);
          if (p >= layout.pages) throw new GuestError(GuestErrorCode.DISK, `vCPU ${vcpu}: anonymous buffer ${h} names page ${p}`);
          hash.update(page(p));
        }
      }
      for (let b = 0; b < layout.blocks; b++) {
        const absolute = layout.firstBlock + b;
        disk.read(absolute, block, 0);
        const onDisk = { block: blockView.getUint32(BLOCK_DATA_BYTES, true), generation: blockView.getUint32(BLOCK_DATA_BYTES + 4, true) };
        const recorded = booted ? words.get(layout.blockGenPage, b) : 0;
        if (onDisk.block !== absolute || onDisk.generation !== recorded) {
          throw new GuestError(
            GuestErrorCode.DISK,
            `disk block ${absolute} carries (block ${onDisk.block}, write-back ${onDisk.generation}); the kernel wrote it back ${recorded} times`,
          );
        }
        const cached = booted ? words.get(layout.blockPagePage, b) : 0;
        const info = cached > 0 && cached < layout.pages ? words.get(layout.pageInfoPage, cached) : 0;
        const dirty = info >>> STATE_SHIFT === PageState.DIRTY && (info & BLOCK_MASK) === b;
        hash.update(dirty ? page(cached).subarray(0, BLOCK_DATA_BYTES) : block.subarray(0, BLOCK_DATA_BYTES));
      }
    });
  } finally {
    disk.close();
  }
  return hash.digest('hex');
}
