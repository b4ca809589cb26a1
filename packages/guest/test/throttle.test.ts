import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE, ThrottleClock, throttleSleepMs, type ThrottleSleeps } from '@livemig/guest';
import { sleep, spec, straightDigest, waitFor } from './helpers.js';

const BYTES = 1024 * PAGE_SIZE;

/**
 * Ops a vCPU does in `simulatedMs` when each op takes `opMs`, driving ThrottleClock as the vCPU worker does
 * (sleeping at most 100 ms at a time, then asking again), on a simulated clock: the duty cycle itself, with
 * no host speed in it.
 */
function simulatedOps(percent: number, simulatedMs: number, opMs = 0.01): number {
  const clock = new ThrottleClock();
  let now = 0;
  let ops = 0;
  while (now < simulatedMs) {
    const wait = percent > 0 ? clock.due(now, percent) : 0;
    if (wait > 0) {
      now += Math.min(wait, 100);
      continue;
    }
    ops++;
    now += opMs;
  }
  return ops;
}

/** Every vCPU's sleep counters satisfy `ok` (compared with `since`, a snapshot taken before). */
function every(guest: Guest, ok: (now: ThrottleSleeps, since: ThrottleSleeps) => boolean, since: ThrottleSleeps[]): boolean {
  return guest.throttleSleeps().every((now, i) => ok(now, since[i]!));
}

const asleep = (sleeps: ThrottleSleeps): boolean => sleeps.ended < sleeps.begun;

describe('vCPU throttle', () => {
  it('follows QEMU: 10 ms on, then 10 * p / (100 - p) ms off', () => {
    expect(throttleSleepMs(50)).toBeCloseTo(10);
    expect(throttleSleepMs(80)).toBeCloseTo(40);
    expect(throttleSleepMs(99)).toBeCloseTo(990);
  });

  it.each([20, 50, 80, 99])('at %d%% a vCPU runs (100 - p) %% of the time (simulated clock)', (percent) => {
    const free = simulatedOps(0, 20_000);
    const throttled = simulatedOps(percent, 20_000);
    // Within 0.1 % of wall time: at most one timeslice's worth of ops in 20 s either way.
    expect(Math.abs(throttled / free - (100 - percent) / 100)).toBeLessThan(0.001);
  });

  it('80% puts every vCPU to sleep after each timeslice, 0% releases it', async () => {
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 2, workload: spec('uniform', 1, 0, { dirtyRate: 0 }) });
    try {
      expect(guest.throttlePercent).toBe(0);
      const start = guest.throttleSleeps();
      expect(start).toEqual([
        { begun: 0, ended: 0, cutShort: 0 },
        { begun: 0, ended: 0, cutShort: 0 },
      ]);
      guest.setThrottle(80);
      expect(guest.throttlePercent).toBe(80);
      await waitFor(() => every(guest, (now) => now.begun >= 1, start), { what: 'every vCPU to begin a throttle sleep' });
      const first = guest.throttleSleeps();
      const opsAtFirst = guest.opsDone();
      // Each vCPU runs a timeslice (at least 256 ops: a throttled vCPU reads its clock once per 256), then
      // sleeps 40 ms, and again: three more sleeps run their course, two whole timeslices of each vCPU between.
      await waitFor(() => every(guest, (now, since) => now.ended - now.cutShort >= since.begun + 3, first), {
        what: 'three more throttle sleeps of every vCPU to run their course',
      });
      const throttledOps = guest.opsDone() - opsAtFirst;
      expect(throttledOps).toBeGreaterThanOrEqual(2 * 2 * 256);
      // The sleeps ran out on their own: none was cut short while the throttle held.
      expect(guest.throttleSleeps().every((sleeps) => sleeps.cutShort === 0)).toBe(true);

      guest.setThrottle(0);
      expect(guest.throttlePercent).toBe(0);
      const released = guest.throttleSleeps();
      const opsAtRelease = guest.opsDone();
      // Twenty times the ops of those four timeslices: still throttled, that would take dozens more sleeps.
      await waitFor(() => guest.opsDone() - opsAtRelease >= 20 * throttledOps, { what: 'the released guest to run on' });
      // One sleep more at most: a vCPU that read 80 % just before the release.
      expect(every(guest, (now, since) => now.begun <= since.begun + 1, released)).toBe(true);
      await waitFor(() => !guest.throttleSleeps().some(asleep), { what: 'every vCPU to be awake' });
    } finally {
      await guest.stop();
    }
  });

  it('at 99%, park and stop cut the 990 ms sleep short, and a release wakes a sleeping vCPU at once', async () => {
    const guest = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: 2, workload: spec('uniform', 1, 0, { dirtyRate: 0 }) });
    /**
     * Waits until every vCPU has begun a sleep since `since` and is in it. The vCPUs' timeslices start
     * together (at setThrottle or resume), so each has most of its 990 ms sleep still to go.
     */
    const freshlyAsleep = (since: ThrottleSleeps[], what: string): Promise<void> =>
      waitFor(() => every(guest, (now, before) => now.begun > before.begun && asleep(now), since), { what });
    /** `before` with the sleep each vCPU was in ended, and cut short. */
    const cutShort = (before: ThrottleSleeps[]): ThrottleSleeps[] =>
      before.map((sleeps) => ({ begun: sleeps.begun, ended: sleeps.ended + 1, cutShort: sleeps.cutShort + 1 }));
    try {
      let since = guest.throttleSleeps();
      guest.setThrottle(99);
      // Past the 10 ms timeslice every vCPU is in its 990 ms sleep.
      await freshlyAsleep(since, 'every vCPU to fall asleep');
      let before = guest.throttleSleeps();
      const ops = guest.opsDone();
      // park() wakes them: each vCPU parks out of the sleep it was in, with sleep still owed on its own clock.
      await guest.park();
      expect(guest.parked).toBe(true);
      expect(guest.throttleSleeps()).toEqual(cutShort(before));
      // In that sleep from the count above to the park, no vCPU did an op.
      expect(guest.opsDone()).toBe(ops);

      // Releasing the throttle wakes the sleeping vCPUs instead of letting them finish their sleep.
      since = guest.throttleSleeps();
      guest.resume();
      await freshlyAsleep(since, 'every vCPU to fall asleep again');
      before = guest.throttleSleeps();
      const sleeping = guest.opsDone();
      guest.setThrottle(0);
      await waitFor(() => guest.opsDone() > sleeping, { what: 'the released vCPUs to run' });
      await waitFor(() => every(guest, (now, was) => now.ended > was.ended, before), { what: 'every vCPU to end its sleep' });
      expect(guest.throttleSleeps()).toEqual(cutShort(before));

      since = guest.throttleSleeps();
      guest.setThrottle(99);
      await freshlyAsleep(since, 'every vCPU to fall asleep once more');
      before = guest.throttleSleeps();
      // stop() wakes them too: each leaves its sleep at once and exits on its own (a worker terminated after
      // the stop grace would count nothing).
      await guest.stop();
      expect(guest.throttleSleeps()).toEqual(cutShort(before));
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
