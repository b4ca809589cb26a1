import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE, type WorkloadName } from '@livemig/guest';
import { copyHarvested, sleep, spec, straightDigest } from './helpers.js';

const PAGES = 256;
const BYTES = PAGES * PAGE_SIZE;
const VCPUS = 2;
const OPS = 1500;
/** Paces B and C to about 10k ops/s per vCPU so parks land mid-run; pacing must not change what is written. */
const PACED = { dirtyRate: 10_000 * VCPUS * PAGE_SIZE };

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
    const b = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: VCPUS, workload: spec(name, 11, OPS, paced) });
    try {
      let midRunParks = 0;
      for (let i = 0; i < 4; i++) {
        await sleep(15);
        await b.park();
        if (!b.isFinished()) midRunParks++;
        b.resume();
      }
      await b.finished;
      expect(midRunParks).toBeGreaterThan(0);
      expect(b.digest()).toBe(expected);
    } finally {
      await b.stop();
    }

    // C: pre-copy round while running, park, final round + CPU state, fresh guest on fresh memory.
    const source = await Guest.start({ memory: GuestMemory.create(BYTES), vcpus: VCPUS, workload: spec(name, 11, OPS, paced) });
    const destMemory = GuestMemory.create(BYTES);
    let state;
    try {
      await sleep(30);
      copyHarvested(source.memory, destMemory);
      await sleep(10);
      await source.park();
      copyHarvested(source.memory, destMemory);
      state = source.cpuState();
      expect(source.isFinished()).toBe(false);
      expect(source.opsDone()).toBeGreaterThan(0);
    } finally {
      await source.stop();
    }
    // D: the same arrival on vCPUs spawned ahead of time (paused, fresh registers), given the state later.
    const warmMemory = GuestMemory.create(BYTES);
    for (const p of destMemory.touchedPages()) {
      warmMemory.page(p).set(destMemory.page(p));
      warmMemory.markTouched(p);
    }
    const warm = await Guest.start({ memory: warmMemory, vcpus: VCPUS, workload: spec(name, 11, OPS, paced), paused: true });
    try {
      warm.loadCpuState(state);
      warm.resume();
      await warm.finished;
      expect(warm.digest()).toBe(expected);
    } finally {
      await warm.stop();
    }

    const dest = await Guest.start({ memory: destMemory, vcpus: VCPUS, workload: spec(name, 11, OPS, paced), cpuState: state });
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
