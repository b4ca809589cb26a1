import { describe, expect, it } from 'vitest';
import { Guest, GuestMemory, PAGE_SIZE, PresentMap, parseWorkloadSpec } from '@livemig/guest';
import { FaultRequests } from '../src/postcopy/fault-requests.js';
import { waitFor } from '../../../test/support/wait.js';

const PAGES = 64;
const ZERO = new Uint8Array(PAGE_SIZE);

describe('fault requests', () => {
  it('asks for each faulted page once, skips pages already present, and keeps what is outstanding', async () => {
    // incr touches pages in order: with 2 vCPUs, vCPU 0 walks 0..31 and vCPU 1 walks 32..63.
    const workload = parseWorkloadSpec({ name: 'incr', seed: 1, ops: 64, params: {} });
    const memory = GuestMemory.create(PAGES * PAGE_SIZE);
    const map = PresentMap.create(PAGES, 2);
    map.startPostcopy([2, 3, 40]);
    const requests = new FaultRequests(map);
    expect(requests.collect()).toEqual([]);
    const guest = await Guest.start({ memory, vcpus: 2, workload, present: map });
    try {
      await waitFor(() => map.faults().every((f) => f.waiting), { what: 'both vCPUs to fault' });
      expect(requests.collect().sort((a, b) => a - b)).toEqual([2, 8 + 32]);
      // No new fault: nothing to ask.
      expect(requests.collect()).toEqual([]);
      expect(requests.outstanding().sort((a, b) => a - b)).toEqual([2, 40]);

      // Page 3 arrives (pushed) before vCPU 0 reaches it: its next fault is on nothing; 2 arrives, it runs on.
      map.place(memory, 3, ZERO);
      map.place(memory, 2, ZERO);
      expect(requests.outstanding()).toEqual([40]);
      await waitFor(() => guest.opsDone() >= 32 + 8, { what: 'vCPU 0 to finish its pages' });
      expect(requests.collect()).toEqual([]);

      // The same page faulted again after a park and resume is not asked twice.
      await guest.park();
      guest.resume();
      await waitFor(() => map.faults()[1]!.waiting, { what: 'vCPU 1 to wait again' });
      expect(requests.collect()).toEqual([]);
      map.place(memory, 40, ZERO);
      await guest.finished;
      expect(requests.outstanding()).toEqual([]);
      expect(requests.pagesRequested).toBe(2);
    } finally {
      await guest.stop();
    }
  });
});
