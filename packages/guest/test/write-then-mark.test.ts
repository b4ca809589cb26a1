import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { copyHarvested, sleep, spec, waitFor } from './helpers.js';

function sameBytes(a: GuestMemory, b: GuestMemory): boolean {
  return a.slots.every((slot, i) => Buffer.from(slot.buffer).equals(Buffer.from(b.slots[i]!.buffer)));
}

describe('write, then mark', () => {
  it('a receiver fed only harvested pages ends byte-identical to a guest written during the harvests', async () => {
    // 64 pages: the two vCPUs rewrite every page many times while the harvests run.
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const receiver = GuestMemory.create(64 * PAGE_SIZE);
    const guest = await Guest.start({ memory, vcpus: 2, workload: spec('uniform', 7, 0, { dirtyRate: 0 }) });
    try {
      // Harvests while the vCPUs write: at least 50 of them, and until the vCPUs have written each of the
      // 64 pages a thousand times over on average while they ran.
      let rounds = 0;
      const opsAtStart = guest.opsDone();
      while (rounds < 50 || guest.opsDone() - opsAtStart < 1000 * 64) {
        copyHarvested(memory, receiver);
        rounds++;
        if (rounds % 50 === 0) await sleep(0);
      }
      // Writes after the last harvest, for the final one to find.
      await waitFor(() => memory.dirtyCount() > 0, { what: 'a write after the last harvest' });
      await guest.park();
      // The vCPUs wrote after the last harvest: the receiver is behind until the final harvest.
      expect(memory.dirtyCount()).toBeGreaterThan(0);
      expect(sameBytes(memory, receiver)).toBe(false);
      copyHarvested(memory, receiver);
      expect(sameBytes(memory, receiver)).toBe(true);
      expect(memory.dirtyCount()).toBe(0);
      expect(rounds).toBeGreaterThan(10);
    } finally {
      await guest.stop();
    }
  });

  it('the same check catches a mark placed before the write (a lost update)', () => {
    const memory = GuestMemory.create(4 * PAGE_SIZE);
    const receiver = GuestMemory.create(4 * PAGE_SIZE);
    // Interleaving the dirty log must survive: writer marks, harvester takes and copies, writer writes.
    memory.markDirty(2);
    copyHarvested(memory, receiver);
    memory.page(2)[100] = 1;
    copyHarvested(memory, receiver); // final round finds nothing: the update is lost
    expect(receiver.page(2)[100]).toBe(0);
    expect(Buffer.from(memory.slots[0]!.buffer).equals(Buffer.from(receiver.slots[0]!.buffer))).toBe(false);

    // Write-then-mark in the same interleaving: the late mark makes the final round send the page again.
    const fixed = GuestMemory.create(4 * PAGE_SIZE);
    const fixedReceiver = GuestMemory.create(4 * PAGE_SIZE);
    fixed.page(2)[100] = 1;
    copyHarvested(fixed, fixedReceiver);
    fixed.markDirty(2);
    copyHarvested(fixed, fixedReceiver);
    expect(fixedReceiver.page(2)[100]).toBe(1);
  });
});
