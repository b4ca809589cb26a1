import { afterAll, describe, expect, it } from 'vitest';
import { SOURCE_BIN, finalDigestOf, oracleDigest, readJson, runSource, startAgent, startDest, tempDir, waitForLine } from './support/agents.js';

// The deterministic oracle with Zaw and Thein's framework: rounds skip the working set, stop-and-copy sends
// it, and the guest still ends with the digest of the same run without a migration. A downtime limit of 0
// keeps pre-copy iterating for four rounds, so pages are deferred, dirtied again, and (stream) fall out of
// the working set again before the stop.
const CASES = [
  { workload: 'uniform', ops: 6000, extra: ['--dirty-rate', '24MiB'] },
  { workload: 'hotcold', ops: 12000, extra: ['--dirty-rate', '48MiB', '--hot-bytes', '2MiB'] },
  { workload: 'stream', ops: 24000, extra: ['--dirty-rate', '96MiB'] },
];

describe('deterministic oracle with --working-set', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('hotcold under the patterns and xen policies: they still decide, and the digest holds', async () => {
    const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--seed', '5', '--ops', '24000', '--dirty-rate', '48MiB', '--hot-bytes', '2MiB'];
    const expected = await oracleDigest(guestArgs);
    for (const policy of ['patterns', 'xen']) {
      const sourceReport = dir.file(`policy-${policy}-ws-source.json`);
      const dest = await startDest(['--once']);
      const source = runSource([
        ...guestArgs,
        ...['--working-set', '1024', '--ws-preprocess', '200ms', '--policy', policy],
        ...['--migrate-to', dest.address, '--migrate-after', '300ms', '--report', sourceReport],
      ]);
      const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      const report = readJson(sourceReport);
      expect(report.status).toBe('completed');
      expect(report.policy).toBe(policy);
      expect(report.switchoverReason).toMatch(policy === 'xen' ? /^xen-/ : /^(patterns-|max-)/);
      expect(report.workingSet.capacityPages).toBe(1024);
      expect(finalDigestOf(destDone.stdout), `${policy}: ${destDone.stdout} ${destDone.stderr.slice(-500)} ${JSON.stringify(report.rounds.map((r: { pagesSent: number }) => r.pagesSent))} ops at park ${report.guestOpsAtPark}`).toBe(expected);
    }
  });

  it('source-agent migrate --working-set through the control API: the report says what it deferred, the digest holds', async () => {
    const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', 'hotcold', '--seed', '6', '--ops', '24000', '--dirty-rate', '48MiB', '--hot-bytes', '2MiB'];
    const expected = await oracleDigest(guestArgs);
    const dest = await startDest(['--once']);
    const source = runSource([...guestArgs, '--control-port', '0']);
    const control = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
    const migrate = await startAgent(SOURCE_BIN, ['migrate', '--control', control, '--to', dest.address, '--working-set', '512', '--ws-preprocess', '200ms', '--json']).done;
    expect(migrate.code, migrate.stderr).toBe(0);
    const report = JSON.parse(migrate.stdout);
    expect(report.status).toBe('completed');
    expect(report.workingSet).toMatchObject({ capacityPages: 512, sizePages: 512 });
    expect(report.workingSet.preprocessMs).toBeGreaterThanOrEqual(200);
    expect(report.model.input.workingSetPages).toBe(512);
    expect(finalDigestOf((await dest.done).stdout)).toBe(expected);
    source.child.kill('SIGTERM');
    await source.done;
  });

  for (const { workload, ops, extra } of CASES) {
    it(`${workload}, 2 vCPUs, working set of 256 pages: the digest of the run without migration`, async () => {
      const guestArgs = ['--memory', '64MiB', '--vcpus', '2', '--workload', workload, '--seed', '7', '--ops', String(ops), ...extra];
      const expected = await oracleDigest(guestArgs);
      const sourceReport = dir.file(`${workload}-ws-source.json`);
      const dest = await startDest(['--once']);
      const source = runSource([
        ...guestArgs,
        ...['--working-set', '256', '--ws-preprocess', '200ms', '--downtime-limit', '0ms', '--max-rounds', '4'],
        ...['--migrate-to', dest.address, '--migrate-after', '300ms', '--report', sourceReport],
      ]);
      const [sourceDone, destDone] = await Promise.all([source.done, dest.done]);
      expect(sourceDone.code, sourceDone.stderr).toBe(0);
      expect(destDone.code, destDone.stderr).toBe(0);
      const report = readJson(sourceReport);
      expect(report.status).toBe('completed');
      expect(report.guestOpsAtStart).toBeLessThan(2 * ops);
      expect(finalDigestOf(destDone.stdout)).toBe(expected);
      const ws = report.workingSet;
      expect(ws.capacityPages).toBe(256);
      expect(ws.sizePages).toBe(256);
      expect(ws.preprocessMs).toBeGreaterThanOrEqual(200);
      expect(ws.pagesDeferred).toBeGreaterThan(0);
      expect(ws.deferredDirtyAtStop).toBeLessThanOrEqual(ws.pagesDeferred);
      const stop = report.rounds.at(-1);
      expect(stop.final).toBe(true);
      expect(stop.pagesSent).toBeGreaterThanOrEqual(ws.pagesDeferred);
      expect(report.model.measured.pushRounds).toBe(report.rounds.length - 1);
      expect(report.model.input.workingSetPages).toBe(256);
    });
  }
});
