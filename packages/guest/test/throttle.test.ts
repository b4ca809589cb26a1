import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE, throttleSleepMs } from '@livemig/guest';
import { sleep, spec, straightDigest } from './helpers.js';

const BYTES = 1024 * PAGE_SIZE;

/** Guest-wide ops per wall second over about `ms`. */
async function opsRate(guest: Guest, ms: number): Promise<number> {
  const t0 = performance.now();
  const ops0 = guest.opsDone();
  await sleep(ms);
  return (guest.opsDone() - ops0) / ((performance.now() - t0) / 1000);
}

async function timed(action: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await action();
  return performance.now() - t0;
}

describe('vCPU throttle', () => {
  it('follows QEMU: 10 ms on, then 10 * p / (100 - p) ms off', () => {
    expect(throttleSleepMs(50)).toBeCloseTo(10);
    expect(throttleSleepMs(80)).toBeCloseTo(40);
    expect(throttleSleepMs(99)).toBeCloseTo(990);
  });

  it('80% cuts ops per second, 0% releases it', async () => {
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 2, workload: spec('uniform', 1, 0, { dirtyRate: 0 }) });
    try {
      expect(guest.throttlePercent).toBe(0);
      await sleep(100); // JIT warm-up
      const free = await opsRate(guest, 500);
      guest.setThrottle(80);
      expect(guest.throttlePercent).toBe(80);
      await sleep(50);
      const throttled = await opsRate(guest, 500);
      guest.setThrottle(0);
      expect(guest.throttlePercent).toBe(0);
      await sleep(50);
      const released = await opsRate(guest, 500);
      // Ideally 0.2 (runs 10 ms of every 50); 0.6 leaves room for a noisy 2-core host.
      expect(throttled).toBeLessThan(0.6 * free);
      expect(throttled).toBeLessThan(0.6 * released);
    } finally {
      await guest.stop();
    }
  });

  it('at 99%, park and stop are prompt and a released vCPU runs again at once', async () => {
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 2, workload: spec('uniform', 1, 0, { dirtyRate: 0 }) });
    try {
      guest.setThrottle(99);
      // Past the 10 ms timeslice: every vCPU is in its 990 ms sleep.
      await sleep(100);
      const before = guest.opsDone();
      await sleep(100);
      expect(guest.opsDone()).toBe(before);

      // A few ms on a quiet machine; far below the 990 ms sleep it cuts short.
      expect(await timed(() => guest.park())).toBeLessThan(500);
      guest.resume();
      await sleep(100);

      // Releasing the throttle wakes the sleeping vCPUs instead of letting them finish their sleep.
      const sleeping = guest.opsDone();
      guest.setThrottle(0);
      await sleep(100);
      expect(guest.opsDone()).toBeGreaterThan(sleeping);

      guest.setThrottle(99);
      await sleep(100);
      expect(await timed(() => guest.stop())).toBeLessThan(500);
    } finally {
      await guest.stop();
    }
  });

  it.each([100, -1, 1.5, Number.NaN])('setThrottle(%s) is refused', async (percent) => {
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 1, workload: spec('idle', 1, 0), paused: true });
    try {
      guest.setThrottle(20);
      expect(() => guest.setThrottle(percent)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
      expect(guest.throttlePercent).toBe(20);
    } finally {
      await guest.stop();
    }
  });

  it.each([
    ['uniform, paced', spec('uniform', 5, 1500, { dirtyRate: 10_000 * 2 * PAGE_SIZE })],
    ['incr, flat out', spec('incr', 5, 5_000_000)],
  ])('%s: throttle changes mid-run leave the digest of the straight run', async (_, workload) => {
    const expected = await straightDigest(BYTES, 2, workload);
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 2, workload });
    try {
      guest.setThrottle(90);
      await sleep(30);
      guest.setThrottle(40);
      await sleep(30);
      await guest.park();
      expect(guest.isFinished()).toBe(false);
      guest.resume();
      guest.setThrottle(0);
      await guest.finished;
      expect(guest.digest()).toBe(expected);
    } finally {
      await guest.stop();
    }
  });
});
