import { Guest, GuestMemory, parseWorkloadSpec, type WorkloadName, type WorkloadSpec } from '@livemig/guest';

// The waits every test uses (test/support/wait.ts).
export { sleep, waitFor, waitForValue } from '../../../test/support/wait.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

export function spec(name: WorkloadName, seed: number, ops: number, params: Record<string, number> = {}): WorkloadSpec {
  return parseWorkloadSpec({ name, seed, ops, params });
}

/** Copies the pages the source harvests into `dest`, marking them touched, as a receiver would. */
export function copyHarvested(source: GuestMemory, dest: GuestMemory): number {
  const pages = source.harvestDirty();
  for (const p of pages) {
    dest.page(p).set(source.page(p));
    dest.markTouched(p);
  }
  return pages.length;
}

/** Runs a fresh guest straight to its op limit and returns its digest. */
export async function straightDigest(memoryBytes: number, vcpus: number, workload: WorkloadSpec): Promise<string> {
  const guest = await Guest.start({ memory: GuestMemory.create(memoryBytes), vcpus, workload });
  try {
    await guest.finished;
    return guest.digest();
  } finally {
    await guest.stop();
  }
}
