import { afterAll, describe, expect, it } from 'vitest';
import { MAX_RUN_PAGES } from '@livemig/protocol';
import { MAX_BATCH_PAGES } from '@livemig/source-agent';
import { finalDigestOf, migrateOnce, oracleDigest, readJson, runSource, startDest, tempDir } from './support/agents.js';

// The deterministic oracle: for a workload with seed S and N operations per vCPU, the final digest after a
// migration in mid-run equals the final digest of the same run without migration. Rates are set so that a
// run lasts about two seconds and the migration starts well before the end.
const CASES = [
  { workload: 'uniform', ops: 6000, extra: ['--dirty-rate', '24MiB'] },
  { workload: 'hotcold', ops: 12000, extra: ['--dirty-rate', '48MiB', '--hot-bytes', '2MiB'] },
  { workload: 'stream', ops: 24000, extra: ['--dirty-rate', '96MiB'] },
];

describe('deterministic oracle: a migration in mid-run changes nothing', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  for (const { workload, ops, extra } of CASES) {
    it(`${workload}, 2 vCPUs: final digest after migration equals the run without it`, async () => {
      const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', workload, '--seed', '7', '--ops', String(ops), ...extra];
      const expected = await oracleDigest(guestArgs);

      const { sourceDone, destDone, report, received } = await migrateOnce(dir, workload, guestArgs, ['--migrate-after', '400ms']);
      expect(report.status).toBe('completed');
      // The migration really happened in mid-run: it started after the guest had begun and before it finished.
      expect(report.guestOpsAtStart).toBeGreaterThan(0);
      expect(report.guestOpsAtStart).toBeLessThan(2 * ops);
      expect(finalDigestOf(sourceDone.stdout)).toBeUndefined();
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
      expect(received.receivedDigest).toBe(report.sourceDigest);
      expect(received.finalDigest).toBe(expected);
      expect(received.cpuMs).toBeGreaterThan(0);
    });
  }

  it('incr, every page of a sweep dirty at the switchover: the same digest, the final round in many batches', async () => {
    // QEMU's migration-test guest: one byte of every page incremented in turn. A downtime limit of 0 keeps
    // pre-copy iterating, so the final round carries a few thousand pages, each changed by one byte.
    const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'incr', '--seed', '3', '--ops', '24000', '--dirty-rate', '96MiB'];
    const expected = await oracleDigest(guestArgs);
    const { destDone, report, received } = await migrateOnce(dir, 'incr', guestArgs, ['--migrate-after', '400ms', '--downtime-limit', '0ms', '--max-rounds', '3']);
    expect(report.status).toBe('completed');
    expect(report.guestOpsAtStart).toBeLessThan(2 * 24000);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
    expect(received.finalDigest).toBe(expected);
    // A batch is closed once it holds MAX_BATCH_PAGES pages, however small their entries (a run of up to
    // MAX_RUN_PAGES may take it past that by 15).
    for (const round of report.rounds) {
      const batches = round.batches.none + round.batches.lz4 + round.batches.zstd;
      expect(batches, `round ${round.round}`).toBeGreaterThanOrEqual(Math.ceil(round.pagesSent / (MAX_BATCH_PAGES + MAX_RUN_PAGES - 1)));
    }
    // Round 1 (thousands of pages on each channel) measured what a page costs; the estimate counted it.
    const [first] = report.rounds;
    expect(first.busyMs).toBeGreaterThan(0);
    expect(first.pageCostUs).toBeGreaterThan(0);
    expect(first.expectedDowntimeMs).toBeGreaterThanOrEqual(first.switchoverCostMs + (first.pagesDirtiedMeanwhile * first.pageCostUs) / 1000 - 0.2);
  });

  it('hotcold over 4 data channels: the same digest', async () => {
    const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--seed', '9', '--ops', '12000', '--dirty-rate', '48MiB', '--hot-bytes', '2MiB'];
    const expected = await oracleDigest(guestArgs);
    const sourceReport = dir.file('streams-source.json');
    const dest = await startDest(['--once']);
    // A downtime limit of 0 keeps pre-copy iterating while the guest runs, so pages are resent.
    const source = runSource([...guestArgs, '--streams', '4', '--downtime-limit', '0ms', '--max-rounds', '6', '--migrate-to', dest.address, '--migrate-after', '400ms', '--report', sourceReport]);
    const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    const report = readJson(sourceReport);
    expect(report.status).toBe('completed');
    expect(report.streams).toBe(4);
    expect(report.guestOpsAtStart).toBeLessThan(2 * 12000);
    expect(finalDigestOf(destDone.stdout)).toBe(expected);
  });

  it('pages resent in later rounds go as deltas against the copy sent before', async () => {
    // No --ops: the guest keeps dirtying its hot set, so every round resends hot pages.
    const sourceReport = dir.file('delta-source.json');
    const dest = await startDest(['--once', '--run-for', '200ms']);
    const source = runSource(['--memory', '64MiB', '--workload', 'hotcold', '--hot-bytes', '2MiB', '--streams', '2', '--downtime-limit', '0ms', '--max-rounds', '5', '--migrate-to', dest.address, '--migrate-after', '300ms', '--report', sourceReport]);
    const [sourceDone] = await Promise.all([source.done, dest.done]);
    expect(sourceDone.code, sourceDone.stderr).toBe(0);
    const report = readJson(sourceReport);
    expect(report.rounds).toHaveLength(6);
    expect(report.deltaCacheHits).toBeGreaterThan(0);
    expect(report.pagesSent.delta).toBeGreaterThan(0);
    // A delta of a page with one 64-byte line rewritten is far smaller than the page.
    expect(report.bytesByEncoding.delta / report.pagesSent.delta).toBeLessThan(1024);
  });

  it('a different seed gives a different digest (the oracle can fail)', async () => {
    const args = ['--memory', '16MiB', '--vcpus', '2', '--workload', 'uniform', '--ops', '500', '--dirty-rate', '0'];
    const one = await oracleDigest([...args, '--seed', '1']);
    const two = await oracleDigest([...args, '--seed', '2']);
    expect(one).not.toBe(two);
  });

  it('the report of a completed migration has every documented field', async () => {
    const dest = await startDest(['--once', '--run-for', '200ms']);
    const reportPath = dir.file('fields.json');
    const source = runSource(['--memory', '32MiB', '--workload', 'hotcold', '--migrate-to', dest.address, '--migrate-after', '200ms', '--report', reportPath]);
    const done = await source.done;
    expect(done.code, done.stderr).toBe(0);
    await dest.done;
    const report = readJson(reportPath);
    for (const field of ['status', 'migrationId', 'totalTimeMs', 'downtimeMs', 'sourceDowntimeMs', 'timeToParkMs', 'setupTimeMs', 'rounds', 'pagesSent', 'bytesOnWire', 'imageBytes', 'sourceDigest', 'throttlePercent', 'parameters']) {
      expect(report, field).toHaveProperty(field);
    }
    expect(report.rounds.length).toBeGreaterThanOrEqual(2);
    for (const round of report.rounds) {
      expect(Object.keys(round)).toEqual(
        expect.arrayContaining(['pagesSent', 'pagesResent', 'bytesOnWire', 'ms', 'pagesDirtiedMeanwhile', 'expectedDowntimeMs', 'switchoverCostMs', 'bandwidthBytesPerSec', 'throttlePercent']),
      );
    }
    expect(report.rounds.at(-1).final).toBe(true);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(report.downtimeMs).toBeLessThan(report.totalTimeMs);
    expect(report.sourceDowntimeMs).toBeGreaterThan(0);
    expect(report.sourceDowntimeMs).toBeLessThanOrEqual(report.downtimeMs);
    expect(report.parameters).toMatchObject({ policy: 'downtime', downtimeLimitMs: 300, maxBandwidthBytesPerSec: 0, autoConverge: false });
    expect(Object.keys(report.pagesSent).sort()).toEqual(['delta', 'lz4', 'raw', 'sameByte', 'zero', 'zstd']);
    expect(Object.keys(report.bytesByEncoding).sort()).toEqual(['delta', 'lz4', 'raw', 'sameByte', 'zero', 'zstd']);
    expect(report.timeToCommitMs).toBeGreaterThan(0);
    expect(report.peakRssBytes).toBeGreaterThan(0);
    expect(report.cpuMs).toBeGreaterThan(0);
  });
});
