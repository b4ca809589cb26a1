import { afterAll, describe, expect, it } from 'vitest';
import { Guest, GuestMemory, parseWorkloadSpec } from '@livemig/guest';
import { DestAgent } from '@livemig/dest-agent';
import { startMigration } from '@livemig/source-agent';
import { waitFor, waitForValue } from './support/wait.js';

// The destination's view of a migration in flight (GET /migrations serves DestAgent.incoming()): pages and
// bytes grow while the first pre-copy round is still arriving, not only once it ends.
describe("the destination's progress of an incoming migration", () => {
  const agent = new DestAgent({ maxMemoryBytes: 256 * 1024 * 1024 });
  let guest: Guest | undefined;
  afterAll(async () => {
    await guest?.stop();
    await agent.close();
  });

  it('counts pages and bytes of the open round while it arrives', async () => {
    const workload = parseWorkloadSpec({ name: 'uniform', seed: 3, ops: 0, params: { dirtyRate: 8 * 1024 * 1024 } });
    guest = await Guest.start({ memory: GuestMemory.create(16 * 1024 * 1024), vcpus: 1, workload });
    // Let the guest write pages for round 1 to carry: as many ops as its pace (2048 a second) gives in 500 ms.
    await waitFor(() => guest!.opsDone() >= 1024, { what: 'the guest to do 1024 ops' });
    const { host, port } = await agent.listen(0);
    // 1 MB/s: round 1 takes seconds, and never ends before the check below.
    const migration = startMigration(guest, { target: { host, port }, maxBandwidthBytesPerSec: 1_000_000, downtimeLimitMs: 0 });
    const seen = await waitForValue(
      () => agent.incoming().find((report) => report.status === 'receiving' && report.pagesReceived > 0),
      (report) => report !== undefined,
      { what: 'a page counted while the migration was receiving' },
    );
    expect(seen, 'no page counted while the migration was receiving').toBeDefined();
    expect(seen!.rounds).toBe(0);
    expect(seen!.bytesReceived).toBeGreaterThan(0);
    expect(migration.cancel()).toBe(true);
    const report = await migration.done;
    expect(report.status).toBe('cancelled');
    expect(guest.parked).toBe(false);
  });
});
