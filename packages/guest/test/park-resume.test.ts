import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE } from '@livemig/guest';
import { sleep, spec, waitFor } from './helpers.js';

const notParked = expect.objectContaining({ code: 'LM_ERR_NOT_PARKED' });

/**
 * Parks `guest` and returns how many ops its vCPUs did after park() was called. park() stores PARK before it
 * returns, and a vCPU loads the command before every op (control.ts): each finishes at most the op it had
 * begun, and the sample taken right after the store may trail a vCPU by one op. A prompt park is therefore
 * at most two ops per vCPU, on any host at any speed; a vCPU that ran on would do thousands.
 */
async function opsAfterPark(guest: Guest): Promise<number> {
  const parking = guest.park();
  const atPark = guest.opsDone();
  await parking;
  return guest.opsDone() - atPark;
}

const PROMPT_PARK_OPS_PER_VCPU = 2;

describe('park and resume', () => {
  it.each([
    ['uniform unthrottled', spec('uniform', 1, 0, { dirtyRate: 0 })],
    ['uniform paced (default 32 MiB/s)', spec('uniform', 1, 0)],
    ['idle paced at 1000 ops/s', spec('idle', 1, 0)],
  ])('%s: park is prompt, parked vCPUs do nothing, resume continues', async (_, workload) => {
    const guest = await Guest.start({ memory: GuestMemory.create(256 * PAGE_SIZE), vcpus: 2, workload });
    try {
      await waitFor(() => guest.opsDone() > 0, { what: 'the guest to run' });
      expect(guest.parked).toBe(false);
      expect(() => guest.cpuState()).toThrow(notParked);
      expect(() => guest.digest()).toThrow(notParked);

      expect(await opsAfterPark(guest)).toBeLessThanOrEqual(PROMPT_PARK_OPS_PER_VCPU * guest.vcpuCount);
      expect(guest.parked).toBe(true);
      const ops = guest.opsDone();
      const state = guest.cpuState();
      expect(ops).toBeGreaterThan(0);
      // A window in which parked vCPUs must do nothing.
      await sleep(50);
      expect(guest.opsDone()).toBe(ops);
      expect(guest.cpuState()).toEqual(state);

      await guest.park(); // idempotent
      expect(guest.opsDone()).toBe(ops);

      guest.resume();
      expect(guest.parked).toBe(false);
      await waitFor(() => guest.opsDone() > ops, { what: 'the resumed guest to run' });
      expect(guest.opsDone()).toBeGreaterThan(ops);
      expect(await opsAfterPark(guest)).toBeLessThanOrEqual(PROMPT_PARK_OPS_PER_VCPU * guest.vcpuCount);
      expect(guest.parked).toBe(true);
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
      // A window in which a paused guest must do nothing.
      await sleep(20);
      expect(guest.opsDone()).toBe(0);
      expect(guest.memory.dirtyCount()).toBe(0);
      // Already parked: park() resolves with no op done.
      expect(await opsAfterPark(guest)).toBe(0);
      expect(guest.opsDone()).toBe(0);
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
    await waitFor(() => guest.opsDone() > 0, { what: 'the guest to run' });
    await Promise.all([guest.stop(), guest.stop()]);
    const ops = guest.opsDone();
    // A window in which a stopped guest must do nothing.
    await sleep(20);
    expect(guest.opsDone()).toBe(ops);
    expect(memory.page(0)[0]).not.toBe(0);
  });
});

describe('loadCpuState', () => {
  it('replaces registers only while parked, and only with a state of the same workload', async () => {
    const memory = GuestMemory.create(256 * PAGE_SIZE);
    const source = await Guest.start({ memory, vcpus: 2, workload: spec('uniform', 1, 0) });
    await waitFor(() => source.opsDone() > 0, { what: 'the guest to run' });
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
      const resumedAt = warm.opsDone();
      warm.resume();
      // An op done: that vCPU has stored RUNNING (control.ts), so the guest is no longer parked.
      await waitFor(() => warm.opsDone() > resumedAt, { what: 'the resumed guest to run' });
      expect(() => warm.loadCpuState(state)).toThrow(notParked);
    } finally {
      await warm.stop();
    }
  });
});
