import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE, type CpuState, type WorkloadName } from '@livemig/guest';
import { copyHarvested, sleep, spec, straightDigest } from './helpers.js';

const PAGES = 256;
const BYTES = PAGES * PAGE_SIZE;
const VCPUS = 2;
const OPS = 1500;
/** Paces B and C to about 10k ops/s per vCPU so parks land mid-run; pacing must not change what is written. */
const PACED = { dirtyRate: 10_000 * VCPUS * PAGE_SIZE };
/**
 * Whether a park lands before the guest has done its OPS ops depends on how soon this thread gets to it: on
 * a loaded host a 15 ms timer has fired after the whole paced run (150 ms at PACED). An attempt that finds
 * the guest finished is repeated at half the pace, up to this many attempts (the last paced run takes 4.8 s),
 * so the assertions on mid-run parks do not depend on the host's speed: only a host that stalls this thread
 * for longer than a whole run at every pace in turn fails them.
 */
const ATTEMPTS = 6;

/** The paced parameters of attempt `attempt` (0-based): the same writes, at 1 / 2^attempt of PACED's rate. */
function pacedFor(paced: Record<string, number>, attempt: number): Record<string, number> {
  return { ...paced, dirtyRate: paced['dirtyRate']! / 2 ** attempt };
}

const cases: [WorkloadName, Record<string, number>, Record<string, number>][] = [
  ['uniform', { dirtyRate: 0 }, PACED],
  ['hotcold', { dirtyRate: 0, hotBytes: 16 * PAGE_SIZE }, { ...PACED, hotBytes: 16 * PAGE_SIZE }],
  ['stream', {}, PACED],
  ['incr', {}, PACED],
];

describe.each(cases)('deterministic oracle: %s, 2 vCPUs', (name, straight, paced) => {
  it('park/resume cycles and a local migration reach the straight run digest; another seed does not', async () => {
    const expected = await straightDigest(BYTES, VCPUS, spec(name, 11, OPS, straight));
    expect(await straightDigest(BYTES, VCPUS, spec(name, 11, OPS, straight))).toBe(expected);

    // B: several park/resume cycles.
    let midRunParks = 0;
    for (let attempt = 0; attempt < ATTEMPTS && midRunParks === 0; attempt++) {
      const b = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: VCPUS, workload: spec(name, 11, OPS, pacedFor(paced, attempt)) });
      try {
        for (let i = 0; i < 4; i++) {
          await sleep(15);
          await b.park();
          if (!b.isFinished()) midRunParks++;
          b.resume();
        }
        await b.finished;
        expect(b.digest()).toBe(expected);
      } finally {
        await b.stop();
      }
    }
    expect(midRunParks).toBeGreaterThan(0);

    // C: pre-copy round while running, park, final round + CPU state, fresh guest on fresh memory.
    // The destination runs the workload the source ran, at the same pace.
    let arrived = spec(name, 11, OPS, paced);
    let destMemory = GuestMemory.create(BYTES);
    let state: CpuState | undefined;
    let finishedAtPark = true;
    for (let attempt = 0; attempt < ATTEMPTS && finishedAtPark; attempt++) {
      arrived = spec(name, 11, OPS, pacedFor(paced, attempt));
      const source = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: VCPUS, workload: arrived });
      destMemory = GuestMemory.create(BYTES);
      try {
        await sleep(30);
        // The pre-copy round is taken once the guest has written something, however late its vCPUs ran.
        while (source.opsDone() === 0) await sleep(1);
        copyHarvested(source.memory, destMemory);
        await sleep(10);
        await source.park();
        copyHarvested(source.memory, destMemory);
        state = source.cpuState();
        finishedAtPark = source.isFinished();
        expect(source.opsDone()).toBeGreaterThan(0);
      } finally {
        await source.stop();
      }
    }
    expect(finishedAtPark).toBe(false);

    // D: the same arrival on vCPUs spawned ahead of time (paused, fresh registers), given the state later.
    const warmMemory = GuestMemory.create(BYTES);
    for (const p of destMemory.touchedPages()) {
      warmMemory.page(p).set(destMemory.page(p));
      warmMemory.markTouched(p);
    }
    const warm = await Guest.start({ memory: warmMemory, vcpus: VCPUS, workload: arrived, paused: true });
    try {
      warm.loadCpuState(state!);
      warm.resume();
      await warm.finished;
      expect(warm.digest()).toBe(expected);
    } finally {
      await warm.stop();
    }

    const dest = await Guest.start({ memory: destMemory, vcpus: VCPUS, workload: arrived, cpuState: state });
    try {
      await dest.finished;
      expect(dest.opsDone()).toBe(VCPUS * OPS);
      expect(dest.digest()).toBe(expected);
    } finally {
      await dest.stop();
    }

    expect(await straightDigest(BYTES, VCPUS, spec(name, 12, OPS, straight))).not.toBe(expected);
  });
});
