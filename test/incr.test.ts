import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { checkIncrPattern } from '@livemig/guest';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { readFileSync } from 'node:fs';
import { finalDigestOf, migrateOnce, oracleDigest, runSource, tempDir } from './support/agents.js';
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

  // Behind a slow link the rounds after the first would send pages with a cached copy as deltas; with the
  // source's lead bounded by round acknowledgements, sparse runs go as runs instead, their CRCs taken from the lz4
  // block at both ends (issue 11). A wrong CRC would show as a repair at commit.
  it('behind a slow link the sparse pages go as runs, not deltas; the digest holds without a repair', async () => {
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
      const rounds = report.rounds as Array<{ final: boolean; pagesSent: number }>;
      expect(rounds.length).toBeGreaterThan(2);
      expect(rounds.find((r) => r.final)!.pagesSent).toBe(2048);
      // Runs count as lz4. A counter that wrapped to 0 leaves a zero page, whose run's other pages go one by one.
      expect(report.pagesSent.lz4).toBeGreaterThan(4 * report.pagesSent.delta);
      // Every pre-copy round was acknowledged before the guest was parked (the final one's may have been read too).
      expect(report.roundAcks.acknowledged).toBeGreaterThanOrEqual(rounds.length - 1);
      await guest.park();
      const check = checkIncrPattern(guest.memory, guest.vcpuCount);
      expect(check.ok, check.detail).toBe(true);
    } finally {
      await guest.stop();
      await agent.close();
      dir.remove();
    }
  });

  // The deterministic oracle with round acknowledgements on (both agents speak round-ack-v1): incr keeps every
  // page of its sweep dirty, so pre-copy iterates to --max-rounds, each round as sparse runs, the source never
  // more than one round ahead of what the destination has applied; the final digest is the run's without migration.
  it('with round acknowledgements: the oracle digest, at most two rounds in flight, every pre-copy round acknowledged', async () => {
    const dir = tempDir();
    try {
      const guestArgs = ['--memory', '32MiB', '--vcpus', '2', '--workload', 'incr', '--seed', '5', '--ops', '16000', '--dirty-rate', '64MiB'];
      const expected = await oracleDigest(guestArgs);
      const { destDone, report, received } = await migrateOnce(dir, 'incr-acks', guestArgs, ['--migrate-after', '300ms', '--downtime-limit', '0ms', '--max-rounds', '6']);
      expect(report.status).toBe('completed');
      expect(report.guestOpsAtStart).toBeLessThan(2 * 16000);
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
      expect(received.finalDigest).toBe(expected);
      const rounds = report.rounds as Array<{ final: boolean; destPageCostUs: number; sourcePageCostUs: number; pageCostUs: number }>;
      expect(report.roundAcks.acknowledged).toBeGreaterThanOrEqual(rounds.length - 1);
      expect(report.roundAcks.maxRoundsInFlight).toBeGreaterThanOrEqual(1);
      expect(report.roundAcks.maxRoundsInFlight).toBeLessThanOrEqual(2);
      // Round 1's acknowledgement came before round 3 began, so the policy knew the destination's cost then; the
      // per-page term is the slower end's.
      const judged = rounds.filter((r) => !r.final);
      expect(judged.some((r) => r.destPageCostUs > 0)).toBe(true);
      for (const r of judged) expect(r.pageCostUs).toBeCloseTo(Math.max(r.sourcePageCostUs, r.destPageCostUs), 0);
    } finally {
      dir.remove();
    }
  });
});
