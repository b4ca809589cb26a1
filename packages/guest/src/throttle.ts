/**
 * vCPU throttle for auto-converge, QEMU's rule (cpu-throttle.c): cpu_throttle_timer_tick fires every
 * CPU_THROTTLE_TIMESLICE_NS / (1 - pct) and cpu_throttle_thread then sleeps the vCPU for
 * pct / (1 - pct) * CPU_THROTTLE_TIMESLICE_NS, so a vCPU runs 10 ms, then sleeps 10 * p / (100 - p) ms:
 * it runs (100 - p) % of wall time (50% -> 10 ms on, 10 ms off; 99% -> 10 ms on, 990 ms off).
 */

export const MAX_THROTTLE_PERCENT = 99;
export const THROTTLE_TIMESLICE_MS = 10;

/** Sleep after each timeslice at `percent` (1..MAX_THROTTLE_PERCENT). */
export function throttleSleepMs(percent: number): number {
  return (THROTTLE_TIMESLICE_MS * percent) / (100 - percent);
}

/**
 * Run/sleep phase of one throttled vCPU, driven by clock readings. Local to its worker and timing only: it
 * is never migrated and never changes what an op writes.
 */
export class ThrottleClock {
  /** Start of the current run timeslice; -1 before the first throttled op. */
  #runSince = -1;
  /** Start of the current sleep; -1 while running. */
  #sleepSince = -1;

  /** True once a throttled op has been timed since the last reset. */
  get engaged(): boolean {
    return this.#runSince >= 0 || this.#sleepSince >= 0;
  }

  /** In a sleep phase: due() has asked for a sleep that has not yet been found over. */
  get asleep(): boolean {
    return this.#sleepSince >= 0;
  }

  /** Milliseconds of the current sleep still owed at `now` at `percent` (<= 0 once over); 0 when not asleep. */
  owed(now: number, percent: number): number {
    return this.#sleepSince >= 0 ? this.#sleepSince + throttleSleepMs(percent) - now : 0;
  }

  /**
   * Milliseconds the vCPU must still sleep at `now` (0 = run the next op). The sleep length is recomputed
   * from `percent` on every call, so a throttle changed mid-sleep applies at the next call.
   */
  due(now: number, percent: number): number {
    if (this.#sleepSince >= 0) {
      const left = this.#sleepSince + throttleSleepMs(percent) - now;
      if (left > 0) return left;
      this.#sleepSince = -1;
      this.#runSince = now;
      return 0;
    }
    if (this.#runSince < 0) {
      this.#runSince = now;
      return 0;
    }
    if (now - this.#runSince < THROTTLE_TIMESLICE_MS) return 0;
    this.#runSince = -1;
    this.#sleepSince = now;
    return throttleSleepMs(percent);
  }

  /** Throttle released or vCPU parked: the next throttled op starts a fresh timeslice. */
  reset(): void {
    this.#runSince = -1;
    this.#sleepSince = -1;
  }
}
