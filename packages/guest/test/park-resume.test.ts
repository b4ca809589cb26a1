import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { sleep, spec } from './helpers.js';

const notParked = expect.objectContaining({ code: 'LM_ERR_NOT_PARKED' });

async function timedPark(guest: Guest): Promise<number> {
  const t0 = performance.now();
  await guest.park();
  return performance.now() - t0;
}

describe('park and resume', () => {
  it.each([
    ['uniform unthrottled', spec('uniform', 1, 0, { dirtyRate: 0 })],
    ['uniform paced (default 32 MiB/s)', spec('uniform', 1, 0)],
    ['idle paced at 1000 ops/s', spec('idle', 1, 0)],
  ])('%s: park is prompt, parked vCPUs do nothing, resume continues', async (_, workload) => {
    const guest = await Guest.start({ memory: GuestMemory.create(256 * PAGE_SIZE), vcpus: 2, workload });
    try {
      await sleep(50);
      expect(guest.parked).toBe(false);
      expect(() => guest.cpuState()).toThrow(notParked);
      expect(() => guest.digest()).toThrow(notParked);

      // A few ms on a quiet machine; the bound leaves room for a loaded shared host.
      expect(await timedPark(guest)).toBeLessThan(500);
      expect(guest.parked).toBe(true);
      const ops = guest.opsDone();
      const state = guest.cpuState();
      expect(ops).toBeGreaterThan(0);
      await sleep(50);
      expect(guest.opsDone()).toBe(ops);
      expect(guest.cpuState()).toEqual(state);

      await guest.park(); // idempotent
      expect(guest.opsDone()).toBe(ops);

      guest.resume();
      expect(guest.parked).toBe(false);
      await sleep(50);
      expect(guest.opsDone()).toBeGreaterThan(ops);
      // A few ms on a quiet machine; the bound leaves room for a loaded shared host.
      expect(await timedPark(guest)).toBeLessThan(500);
    } finally {
      await guest.stop();
    }
  });

  it('a guest started paused runs nothing until resumed', async () => {
    const guest = await Guest.start({
      memory: GuestMemory.create(64 * PAGE_SIZE),
      vcpus: 2,
      workload: spec('incr', 3, 100),
      paused: true,
    });
    try {
      expect(guest.parked).toBe(true);
      await sleep(20);
      expect(guest.opsDone()).toBe(0);
      expect(guest.memory.dirtyCount()).toBe(0);
      // A few ms on a quiet machine; the bound leaves room for a loaded shared host.
      expect(await timedPark(guest)).toBeLessThan(500);
      guest.resume();
      await guest.finished;
      expect(guest.isFinished()).toBe(true);
      expect(guest.opsDone()).toBe(200);
      expect(guest.parked).toBe(true); // finished counts as a safe point
      expect(() => guest.cpuState()).not.toThrow();
    } finally {
      await guest.stop();
    }
  });

  it('stop is idempotent and leaves memory readable', async () => {
    const memory = GuestMemory.create(64 * PAGE_SIZE);
    const guest = await Guest.start({ memory, vcpus: 1, workload: spec('incr', 3, 0) });
    await sleep(20);
    await Promise.all([guest.stop(), guest.stop()]);
    const ops = guest.opsDone();
    await sleep(20);
    expect(guest.opsDone()).toBe(ops);
    expect(memory.page(0)[0]).not.toBe(0);
  });
});

describe('loadCpuState', () => {
  it('replaces registers only while parked, and only with a state of the same workload', async () => {
    const memory = GuestMemory.create(256 * PAGE_SIZE);
    const source = await Guest.start({ memory, vcpus: 2, workload: spec('uniform', 1, 0) });
    await sleep(30);
    await source.park();
    const state = source.cpuState();
    await source.stop();

    const other = await Guest.start({ memory: GuestMemory.create(256 * PAGE_SIZE), vcpus: 2, workload: spec('hotcold', 1, 0), paused: true });
    try {
      expect(() => other.loadCpuState(state)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_CPU_STATE' }));
    } finally {
      await other.stop();
    }

    const warm = await Guest.start({ memory: GuestMemory.create(256 * PAGE_SIZE), vcpus: 2, workload: spec('uniform', 1, 0), paused: true });
    try {
      warm.loadCpuState(state);
      expect(warm.opsDone()).toBe(state.length > 0 ? source.opsDone() : 0);
      warm.resume();
      await sleep(20);
      expect(() => warm.loadCpuState(state)).toThrow(notParked);
    } finally {
      await warm.stop();
    }
  });
});
