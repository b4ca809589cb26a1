import { describe, expect, it } from 'vitest';
import { accessLogEnabled, Guest, GuestMemory, PAGE_SIZE, type CpuState, type WorkloadSpec } from '@livemig/guest';
import { spec } from './helpers.js';

const BYTES = 256 * PAGE_SIZE;

async function run(workload: WorkloadSpec): Promise<{ memory: GuestMemory; state: CpuState; dirty: Set<number>; accessed: Set<number> }> {
  const memory = GuestMemory.create(BYTES);
  const guest = await Guest.start({ memory, vcpus: 2, workload });
  try {
    await guest.finished;
    return { memory, state: guest.cpuState(), dirty: new Set(memory.harvestDirty()), accessed: new Set(memory.harvestAccessed()) };
  } finally {
    await guest.stop();
  }
}

describe('the accessed bitmap (working-set prediction)', () => {
  it('is on unless accessLog is 0', () => {
    expect(accessLogEnabled(spec('uniform', 1, 0))).toBe(true);
    expect(accessLogEnabled(spec('hotcold', 1, 0, { accessLog: 0 }))).toBe(false);
    expect(() => spec('stream', 1, 0, { accessLog: 2 })).toThrow(/accessLog/);
  });

  it.each(['uniform', 'hotcold', 'stream', 'incr'] as const)('%s marks every page it writes accessed; a harvest clears the bitmap', async (name) => {
    const { memory, dirty, accessed } = await run(spec(name, 3, 3000, { dirtyRate: 0 }));
    expect(dirty.size).toBeGreaterThan(0);
    for (const page of dirty) expect(accessed.has(page)).toBe(true);
    expect(memory.harvestAccessed()).toHaveLength(0);
  });

  it('hotcold reads its hot set: with every write cold, the hot pages are accessed although few are written', async () => {
    // 8 hot pages per vCPU at the start of each 128-page partition; 20 writes per vCPU land anywhere.
    const { dirty, accessed } = await run(spec('hotcold', 5, 20, { dirtyRate: 0, hotFraction: 0, hotBytes: 16 * PAGE_SIZE }));
    const hot = [0, 1, 2, 3, 128, 129, 130, 131];
    const readOnly = hot.filter((p) => accessed.has(p) && !dirty.has(p));
    expect(readOnly.length).toBeGreaterThan(0);
    for (const page of accessed) expect(dirty.has(page) || (page % 128) < 8).toBe(true);
  });

  it('accessLog 0 writes the same bytes and marks nothing', async () => {
    const marked = await run(spec('hotcold', 3, 4000, { dirtyRate: 0 }));
    const unmarked = await run(spec('hotcold', 3, 4000, { dirtyRate: 0, accessLog: 0 }));
    expect(unmarked.accessed.size).toBe(0);
    expect(marked.accessed.size).toBeGreaterThan(0);
    expect(Buffer.from(unmarked.memory.slots[0]!.buffer).equals(Buffer.from(marked.memory.slots[0]!.buffer))).toBe(true);
    expect(unmarked.state).toEqual(marked.state);
  });
});
