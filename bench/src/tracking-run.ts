import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Guest, type GuestMemory, parseWorkloadSpec, type WorkloadName } from '@livemig/guest';
import { median } from './stats.js';

/**
 * off: no dirty log, no accessed bitmap; on: both, nobody harvests; harvest: both and a harvester of the dirty
 * log, as in pre-copy; no-access: dirty logging without the accessed bitmap (the baseline of its cost).
 */
export type TrackingMode = 'off' | 'on' | 'harvest' | 'no-access';
export const TRACKING_MODES: readonly TrackingMode[] = ['off', 'on', 'harvest', 'no-access'];

export interface TrackingRun<M extends string = TrackingMode> {
  mode: M;
  /** Guest-wide ops over the window, and the window's wall time. */
  ops: number;
  ms: number;
  /**
   * CPU time of this process over the window (every thread: the running guest's vCPUs, the main thread
   * waiting on its timer). Time a vCPU spends descheduled by the neighbours is not in it, so ops per CPU
   * second is steadier than ops/s on a shared host.
   */
  cpuMs: number;
  opsPerSec: number;
  harvests: number;
  /** Medians over the window's harvests; null without a harvester. */
  pagesPerHarvest: number | null;
  harvestMs: number | null;
}

/** Main-thread harvester: takes the dirty log every `everyMs`, as a pre-copy round does, timing each call. */
class Harvester {
  readonly pages: number[] = [];
  readonly ms: number[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(memory: GuestMemory, everyMs: number) {
    this.#done = (async () => {
      while (!this.#stopped) {
        await sleep(everyMs);
        const t0 = performance.now();
        this.pages.push(memory.harvestDirty().length);
        this.ms.push(performance.now() - t0);
      }
    })();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.#done;
  }
}

/**
 * One flat-out guest per mode, all on the same memory and all parked but the one being measured. Guests
 * stay booted (and JIT-warm) across windows, so windows are short and modes alternate closely: on a noisy
 * shared host, neighbouring windows see the same noise. Only one guest runs at a time, so sharing the
 * memory is safe; what they write does not matter here.
 */
export class AlternatingGuests<M extends string> {
  readonly #memory: GuestMemory;
  readonly #guests: Map<M, Guest>;
  readonly #harvest: { mode: M; everyMs: number } | undefined;

  private constructor(memory: GuestMemory, guests: Map<M, Guest>, harvest: { mode: M; everyMs: number } | undefined) {
    this.#memory = memory;
    this.#guests = guests;
    this.#harvest = harvest;
  }

  /** Boots one paused guest per mode with `start`; in `harvest.mode` a harvester runs during each window. */
  static async boot<M extends string>(
    memory: GuestMemory,
    modes: readonly M[],
    start: (mode: M) => Promise<Guest>,
    harvest?: { mode: M; everyMs: number },
  ): Promise<AlternatingGuests<M>> {
    const guests = new Map<M, Guest>();
    try {
      for (const mode of modes) guests.set(mode, await start(mode));
    } catch (error) {
      await Promise.all([...guests.values()].map((g) => g.stop()));
      throw error;
    }
    return new AlternatingGuests(memory, guests, harvest);
  }

  /** Runs the mode's guest for `ms` (with the harvester in the harvest mode) and counts its ops. */
  async window(mode: M, ms: number): Promise<TrackingRun<M>> {
    const guest = this.#guests.get(mode)!;
    this.#memory.harvestDirty(); // every window starts from a clean log
    const harvester = this.#harvest?.mode === mode ? new Harvester(this.#memory, this.#harvest.everyMs) : undefined;
    const ops0 = guest.opsDone();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    guest.resume();
    await sleep(ms);
    const ops1 = guest.opsDone();
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    await guest.park();
    await harvester?.stop();
    return {
      mode,
      ops: ops1 - ops0,
      ms: t1 - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      opsPerSec: (ops1 - ops0) / ((t1 - t0) / 1000),
      harvests: harvester?.pages.length ?? 0,
      pagesPerHarvest: harvester ? median(harvester.pages) : null,
      harvestMs: harvester ? median(harvester.ms) : null,
    };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#guests.values()].map((g) => g.stop()));
  }
}

/** The tracking benchmark's guests: dirty logging off, on, and on with a harvester. */
export function bootTrackingGuests(
  memory: GuestMemory,
  workload: WorkloadName,
  vcpus: number,
  seed: number,
  harvestEveryMs: number,
): Promise<AlternatingGuests<TrackingMode>> {
  return AlternatingGuests.boot(
    memory,
    TRACKING_MODES,
    (mode) => {
      const spec = parseWorkloadSpec({ name: workload, seed, ops: 0, params: { dirtyRate: 0, dirtyLog: mode === 'off' ? 0 : 1, accessLog: mode === 'off' || mode === 'no-access' ? 0 : 1 } });
      return Guest.start({ memory, vcpus, workload: spec, paused: true });
    },
    { mode: 'harvest', everyMs: harvestEveryMs },
  );
}
