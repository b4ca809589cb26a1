import { describe, expect, it } from 'vitest';
import { dirtyLogEnabled, Guest, GuestMemory, PAGE_SIZE, type CpuState, type WorkloadSpec } from '@livemig/guest';
import { spec } from './helpers.js';

const BYTES = 256 * PAGE_SIZE;

async function run(workload: WorkloadSpec): Promise<{ memory: GuestMemory; state: CpuState }> {
  const memory = GuestMemory.create(BYTES);
  const guest = await Guest.start({ memory, vcpus: 2, workload });
  try {
    await guest.finished;
    return { memory, state: guest.cpuState() };
  } finally {
    await guest.stop();
  }
}

describe('dirtyLog = 0 (measurement only)', () => {
  it('is what dirtyLogEnabled reports', () => {
    expect(dirtyLogEnabled(spec('uniform', 1, 0))).toBe(true);
    expect(dirtyLogEnabled(spec('idle', 1, 0))).toBe(true);
    expect(dirtyLogEnabled(spec('stream', 1, 0, { dirtyLog: 0 }))).toBe(false);
  });

  it.each(['uniform', 'hotcold', 'stream', 'incr'] as const)('%s writes the same bytes and leaves the dirty log empty', async (name) => {
    const logged = await run(spec(name, 3, 5000, { dirtyRate: 0 }));
    const unlogged = await run(spec(name, 3, 5000, { dirtyRate: 0, dirtyLog: 0 }));
    expect(logged.memory.dirtyCount()).toBeGreaterThan(0);
    expect(unlogged.memory.dirtyCount()).toBe(0);
    // Compared directly: the digest reads only logged pages, so it cannot see an unlogged guest's writes.
    expect(Buffer.from(unlogged.memory.slots[0]!.buffer).equals(Buffer.from(logged.memory.slots[0]!.buffer))).toBe(true);
    expect(unlogged.state).toEqual(logged.state);
  });
});
