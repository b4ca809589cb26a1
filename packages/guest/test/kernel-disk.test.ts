import { mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDisk, Guest, GuestMemory, kernelLayout, kernelSizes, PartitionWords, Sb } from '@livemig/guest';
import { MiB, spec } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kernel-disk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const workload = spec('fileserver', 5, 4000, { diskBytes: 4 * MiB, cacheBytes: 2 * MiB, anonBytes: MiB });

async function finishedGuest(disk: string): Promise<Guest> {
  formatDisk(disk, 4 * MiB, workload.seed);
  const guest = await Guest.start({ memory: GuestMemory.create(16 * MiB), vcpus: 2, workload, disk });
  await guest.finished;
  return guest;
}

describe('guest kernel over a virtual disk', () => {
  it('two runs on fresh disks of one seed end with one digest, and write back through the cache', async () => {
    const one = await finishedGuest(join(dir, 'one'));
    const two = await finishedGuest(join(dir, 'two'));
    try {
      expect(one.digest()).toBe(two.digest());
      const layout = kernelLayout(kernelSizes(workload.params), 0, 2, one.memory.pageCount);
      const words = new PartitionWords(one.memory.slots.map((s) => new Uint32Array(s.buffer)), one.memory.pagesPerSlot, layout.start);
      expect(words.get(0, Sb.WRITE_BACKS)).toBeGreaterThan(0);
      expect(words.get(0, Sb.DISK_READS)).toBeGreaterThan(0);
      expect(words.get(0, Sb.CACHE_PAGES)).toBeLessThanOrEqual(layout.cachePages);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });

  it('a block written back one time too few or too many fails the digest with LM_ERR_DISK', async () => {
    const path = join(dir, 'tampered');
    const guest = await finishedGuest(path);
    try {
      const layout = kernelLayout(kernelSizes(workload.params), 0, 2, guest.memory.pageCount);
      const words = new PartitionWords(guest.memory.slots.map((s) => new Uint32Array(s.buffer)), guest.memory.pagesPerSlot, layout.start);
      let block = 0;
      while (words.get(layout.blockGenPage, block) === 0) block++;
      const digest = guest.digest();
      /** Moves the block's trailer generation by `delta` write-backs. */
      const shift = (delta: number): void => {
        const fd = openSync(path, 'r+');
        const trailer = Buffer.alloc(4);
        readSync(fd, trailer, 0, 4, (layout.firstBlock + block) * 4096 + 4092);
        trailer.writeUInt32LE(trailer.readUInt32LE() + delta);
        writeSync(fd, trailer, 0, 4, (layout.firstBlock + block) * 4096 + 4092);
        closeSync(fd);
      };
      // One write-back too few: as a lost (or stale, late) write-back would leave it.
      shift(-1);
      expect(() => guest.digest()).toThrow(expect.objectContaining({ code: 'LM_ERR_DISK' }));
      // One too many: as a write-back landing twice (replayed after a migration) would leave it.
      shift(2);
      expect(() => guest.digest()).toThrow(expect.objectContaining({ code: 'LM_ERR_DISK' }));
      // Exactly as often as the kernel recorded: the digest is back.
      shift(-1);
      expect(guest.digest()).toBe(digest);
    } finally {
      await guest.stop();
    }
  });

  it('refuses to start without a disk, or a kernel that does not fit its memory', async () => {
    await expect(Guest.start({ memory: GuestMemory.create(16 * MiB), vcpus: 2, workload })).rejects.toMatchObject({ code: 'LM_ERR_DISK' });
    const big = spec('fileserver', 1, 10, { anonBytes: 32 * MiB });
    await expect(Guest.start({ memory: GuestMemory.create(16 * MiB), vcpus: 2, workload: big, disk: join(dir, 'one') })).rejects.toMatchObject({
      code: 'LM_ERR_BAD_WORKLOAD',
    });
  });
});
