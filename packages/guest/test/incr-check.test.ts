import { describe, expect, it } from 'vitest';
import { checkIncrPattern, Guest, GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { copyHarvested, spec, waitFor } from './helpers.js';

const PAGES = 256; // 128 pages per vCPU

async function incrRun(ops: number): Promise<GuestMemory> {
  const guest = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 2, workload: spec('incr', 1, ops) });
  await guest.finished;
  await guest.stop();
  return guest.memory;
}

describe('checkIncrPattern (QEMU migration-test check)', () => {
  it('passes a finished run with one edge per partition', async () => {
    // 1000 ops over 128 pages: pages 0..103 hold 8, pages 104..127 hold 7.
    const memory = await incrRun(1000);
    expect(memory.page(0)[0]).toBe(8);
    expect(memory.page(104)[0]).toBe(7);
    expect(checkIncrPattern(memory, 2)).toEqual({ ok: true, edges: 2, detail: expect.any(String) });
  });

  it('detects a stale page (a second edge) and a torn page', async () => {
    const memory = await incrRun(1000);
    memory.page(110)[0] = 6; // a page that missed its last update: 7 -> 6 is a second edge
    const stale = checkIncrPattern(memory, 2);
    expect(stale.ok).toBe(false);
    expect(stale.edges).toBe(3);
    expect(stale.detail).toMatch(/partition 0: 2 edges/);

    const other = await incrRun(1000);
    other.page(140)[77] = 1;
    expect(checkIncrPattern(other, 2)).toMatchObject({ ok: false, detail: expect.stringMatching(/page 140: byte 77/) });

    const third = await incrRun(1000);
    third.page(20)[0] = 200;
    expect(checkIncrPattern(third, 2).ok).toBe(false);
  });

  it('passes after a local migration mid-run, and the guest keeps running at the destination', async () => {
    const source = await Guest.start({ memory: GuestMemory.create(PAGES * PAGE_SIZE), vcpus: 2, workload: spec('incr', 1, 0) });
    const dest = GuestMemory.create(PAGES * PAGE_SIZE);
    // Mid-run: a few passes over the 128 pages of each partition.
    await waitFor(() => source.opsDone() >= 2 * 3 * 128, { what: 'the guest to run three passes' });
    copyHarvested(source.memory, dest);
    await source.park();
    copyHarvested(source.memory, dest);
    const state = source.cpuState();
    await source.stop();
    expect(checkIncrPattern(dest, 2).ok).toBe(true);

    const guest = await Guest.start({ memory: dest, vcpus: 2, workload: spec('incr', 1, 0), cpuState: state });
    try {
      const before = guest.opsDone();
      await waitFor(() => guest.opsDone() > before, { what: 'the migrated guest to run' });
      await guest.park();
      expect(guest.opsDone()).toBeGreaterThan(before);
      expect(checkIncrPattern(dest, 2).ok).toBe(true);
    } finally {
      await guest.stop();
    }
  });
});
