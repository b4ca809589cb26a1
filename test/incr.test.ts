import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkIncrPattern } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { readFileSync } from 'node:fs';
import { runSource, tempDir } from './support/agents.js';
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

  // Behind a slow link the final round would send pages with a cached copy as deltas; sparse runs go as runs
  // instead, their CRCs taken from the lz4 block (issue 11). A wrong CRC would show as a repair at commit.
  it('a final round behind a slow link sends the sparse pages as runs; the digest holds without a repair', async () => {
    const dir = tempDir();
    const agent = new DestAgent({ maxMemoryBytes: 1024 ** 3 });
    const { port } = await agent.listen(0);
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    const reportPath = dir.file('source.json');
    const source = runSource([
      '--memory', '8MiB', '--vcpus', '2', '--workload', 'incr', '--dirty-rate', '0', '--max-bandwidth', '2MB/s',
      '--max-rounds', '4', '--downtime-limit', '1ms', '--migrate-to', `127.0.0.1:${port}`, '--migrate-after', '300ms', '--report', reportPath,
    ]);
    const [{ guest }] = await arrived;
    try {
      const done = await source.done;
      expect(done.code, done.stderr).toBe(0);
      const report = JSON.parse(readFileSync(reportPath, 'utf8'));
      expect(report.status).toBe('completed');
      expect(report.repair).toBeUndefined();
      expect(report.deltaCacheHits).toBeGreaterThan(0);
      const rounds = report.rounds as Array<{ final: boolean; pagesSent: number }>;
      const first = rounds[0]!.pagesSent;
      const last = rounds.find((r) => r.final)!.pagesSent;
      expect(last).toBe(2048);
      // Round 1 and the final round went as sparse runs (counted as lz4); the rounds between as deltas.
      expect(report.pagesSent.lz4).toBeGreaterThanOrEqual(first + last);
      await guest.park();
      const check = checkIncrPattern(guest.memory, guest.vcpuCount);
      expect(check.ok, check.detail).toBe(true);
    } finally {
      await guest.stop();
      await agent.close();
      dir.remove();
    }
  });
});
