import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkIncrPattern } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { runSource } from './support/agents.js';
import { waitFor } from './support/wait.js';

// QEMU's migration test: the guest increments byte 0 of every page in address order, forever. After the
// migration each vCPU's partition has at most one edge (where its incrementer was stopped), and the guest
// keeps running at the destination.
describe('incr, checked the QEMU way at the destination', () => {
  it('has at most one edge per vCPU and keeps running after migration', async () => {
    const agent = new DestAgent({ maxMemoryBytes: 1024 ** 3 });
    const { port } = await agent.listen(0);
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    const source = runSource(['--memory', '32MiB', '--vcpus', '2', '--workload', 'incr', '--dirty-rate', '64MiB', '--migrate-to', `127.0.0.1:${port}`, '--migrate-after', '500ms']);
    const [{ guest, report }] = await arrived;
    try {
      const sourceDone = await source.done;
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(report.status).toBe('completed');

      const before = guest.opsDone();
      await waitFor(() => guest.opsDone() > before, { what: 'the guest to run at the destination' });
      expect(guest.opsDone()).toBeGreaterThan(before);

      await guest.park();
      const check = checkIncrPattern(guest.memory, guest.vcpuCount);
      expect(check.detail).toBeTypeOf('string');
      expect(check.ok, check.detail).toBe(true);
      expect(check.edges).toBeLessThanOrEqual(guest.vcpuCount);
      // Enough passes ran that the pattern is not trivially flat.
      expect(guest.memory.page(0)[0]).toBeGreaterThan(0);
      const parkedAt = guest.opsDone();
      guest.resume();
      await waitFor(() => guest.opsDone() > parkedAt, { what: 'the guest to run again after resume' });
      expect(guest.opsDone()).toBeGreaterThan(before);
    } finally {
      await guest.stop();
      await agent.close();
    }
  });
});
