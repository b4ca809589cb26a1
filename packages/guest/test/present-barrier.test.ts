import { describe, expect, it } from 'vitest';
import { checkIncrPattern, Guest, GuestMemory, PAGE_SIZE, PresentMap, type WorkloadSpec } from '@livemig/guest';
import { sleep, spec, straightDigest, waitFor, waitForValue } from './helpers.js';

const PAGES = 256;
const MEMORY_BYTES = PAGES * PAGE_SIZE;
const VCPUS = 2;
/** Register words of the ops limit (registers.ts Reg.OPS_LIMIT_LO / HI). */
const OPS_LIMIT_LO = 8;

/** Every vCPU waits for a page it faulted on. */
function allWaiting(map: PresentMap): boolean {
  return map.faults().every((f) => f.waiting);
}

/** Deterministic shuffle (xorshift32), so a failing order can be replayed. */
function shuffled(pages: Uint32Array, seed: number): number[] {
  const out = [...pages];
  let x = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * What a post-copy destination starts from: the source ran `firstOps` ops per vCPU; its written pages are
 * missing here, its CPU state continues to `workload.ops`.
 */
async function sourceAfter(workload: WorkloadSpec, firstOps: number): Promise<{ memory: GuestMemory; cpuState: Uint8Array[] }> {
  const memory = GuestMemory.create(MEMORY_BYTES);
  const guest = await Guest.start({ memory, vcpus: VCPUS, workload: { ...workload, ops: firstOps } });
  await guest.finished;
  const cpuState = guest.cpuState();
  await guest.stop();
  for (const file of cpuState) {
    const words = new Uint32Array(file.buffer, file.byteOffset, file.byteLength / 4);
    words[OPS_LIMIT_LO] = workload.ops;
  }
  return { memory, cpuState };
}

describe('present map and access barrier', () => {
  it('a vCPU waiting for a missing page parks, resumes, faults once, and runs on when the page comes', async () => {
    const workload = spec('stream', 3, 600);
    const memory = GuestMemory.create(MEMORY_BYTES);
    const map = PresentMap.create(PAGES, VCPUS);
    // Page 10 of each partition is missing: each vCPU's 11th op faults.
    map.startPostcopy([10, PAGES / 2 + 10]);
    const guest = await Guest.start({ memory, vcpus: VCPUS, workload, present: map });
    try {
      await waitFor(() => allWaiting(map), { what: 'both vCPUs to wait for their page' });
      expect(map.faults().map((f) => f.page)).toEqual([10, PAGES / 2 + 10]);
      expect(guest.opsDone()).toBe(2 * 10);

      await guest.park();
      expect(guest.parked).toBe(true);
      expect(allWaiting(map)).toBe(false);
      await sleep(30); // a window in which a parked vCPU must do nothing
      expect(guest.opsDone()).toBe(2 * 10);
      expect(guest.cpuState()).toHaveLength(VCPUS);

      guest.resume();
      await waitFor(() => allWaiting(map), { what: 'the resumed vCPUs to wait again' });
      // The same fault, not a second one.
      expect(map.faults().map((f) => f.seq)).toEqual([1, 1]);
      expect(guest.opsDone()).toBe(2 * 10);

      const zero = new Uint8Array(PAGE_SIZE);
      for (const page of map.missingPages()) expect(map.place(memory, page, zero)).toBe(true);
      await guest.finished;
      expect(map.complete).toBe(true);
      expect(guest.digest()).toBe(await straightDigest(MEMORY_BYTES, VCPUS, workload));
      const stats = map.stats();
      expect(stats.faults).toBe(2);
      expect(stats.latencyBuckets.reduce((a, b) => a + b, 0)).toBe(2);
    } finally {
      await guest.stop();
    }
  });

  it('a page arriving twice is placed once: the late copy never overwrites what the guest wrote', async () => {
    // incr increments byte 0 of every page in order: page 3 is missing until placed, then incremented.
    const workload = spec('incr', 1, 8);
    const memory = GuestMemory.create(MEMORY_BYTES);
    const map = PresentMap.create(PAGES, VCPUS);
    map.startPostcopy([3]);
    const guest = await Guest.start({ memory, vcpus: VCPUS, workload, present: map });
    try {
      await waitFor(() => map.faults()[0]!.waiting, { what: 'vCPU 0 to wait for page 3' });
      const copy = new Uint8Array(PAGE_SIZE).fill(7);
      expect(map.place(memory, 3, copy)).toBe(true);
      await guest.finished;
      expect(memory.page(3)[0]).toBe(8);
      // A duplicate (a background push racing the answer to a fault) is dropped.
      expect(map.place(memory, 3, copy)).toBe(false);
      expect(memory.page(3)[0]).toBe(8);
      expect(map.presentCount()).toBe(PAGES);
    } finally {
      await guest.stop();
    }
  });

  it('claims restart at each switch and refuse pages outside the guest', () => {
    const map = PresentMap.create(40, 1);
    expect(map.complete).toBe(true);
    expect(map.claim(5)).toBe(false);
    map.startPostcopy([5, 39, 5]);
    expect(map.complete).toBe(false);
    expect([...map.missingPages()]).toEqual([5, 39]);
    expect(map.presentCount()).toBe(38);
    expect(map.claim(5)).toBe(true);
    expect(map.claim(5)).toBe(false);
    map.publish(5);
    map.publish(5);
    expect(map.presentCount()).toBe(39);
    expect(() => map.startPostcopy([40])).toThrow(RangeError);
  });

  it.each([
    ['uniform', spec('uniform', 11, 4000, { dirtyRate: 0 })],
    ['hotcold', spec('hotcold', 12, 4000, { dirtyRate: 0, hotBytes: 16 * PAGE_SIZE })],
    ['stream', spec('stream', 13, 1000)],
  ])('%s: the oracle holds when the pages arrive late, in random order', async (_, workload) => {
    const source = await sourceAfter(workload, workload.ops / 2);
    const written = source.memory.writtenPages();
    const memory = GuestMemory.create(MEMORY_BYTES);
    const map = PresentMap.create(PAGES, VCPUS);
    map.startPostcopy(written);
    const guest = await Guest.start({ memory, vcpus: VCPUS, workload, cpuState: source.cpuState, present: map });
    try {
      await waitFor(() => allWaiting(map), { what: 'every vCPU to fault' });
      const order = shuffled(written, written.length);
      for (let i = 0; i < order.length; i++) {
        map.place(memory, order[i]!, source.memory.page(order[i]!));
        if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
      }
      await guest.finished;
      expect(map.complete).toBe(true);
      expect(map.stats().faults).toBeGreaterThanOrEqual(VCPUS);
      expect(guest.digest()).toBe(await straightDigest(MEMORY_BYTES, VCPUS, workload));
    } finally {
      await guest.stop();
    }
  });

  it("QEMU's incr check holds at the destination while pages arrive late and the guest keeps running", async () => {
    // incr runs forever: the check needs no oracle, only that no page was lost, stale or torn.
    const workload = spec('incr', 5, 0);
    const source = GuestMemory.create(MEMORY_BYTES);
    const sourceGuest = await Guest.start({ memory: source, vcpus: VCPUS, workload });
    // Every vCPU must have swept its partition (one may start late on a busy host). Marks of the word a vCPU
    // writes last are published when it parks (DirtyMarker), so the written pages are counted parked.
    await waitForValue(
      async () => {
        await sourceGuest.park();
        if (source.writtenPages().length === PAGES) return true;
        sourceGuest.resume();
        return false;
      },
      (swept) => swept,
      { what: 'every vCPU to sweep its partition' },
    );
    const cpuState = sourceGuest.cpuState();
    await sourceGuest.stop();
    const written = source.writtenPages();
    const memory = GuestMemory.create(MEMORY_BYTES);
    const map = PresentMap.create(PAGES, VCPUS);
    map.startPostcopy(written);
    const guest = await Guest.start({ memory, vcpus: VCPUS, workload, cpuState, present: map });
    try {
      await waitFor(() => allWaiting(map), { what: 'every vCPU to fault' });
      for (const page of shuffled(written, 7)) {
        map.place(memory, page, source.page(page));
        if (page % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const ops = guest.opsDone();
      await waitFor(() => guest.opsDone() > ops + 2 * PAGES, { what: 'the guest to sweep on after the last page' });
      await guest.park();
      const check = checkIncrPattern(memory, VCPUS);
      expect(check.ok, check.detail).toBe(true);
      expect(map.complete).toBe(true);
    } finally {
      await guest.stop();
    }
  });
});
